#!/usr/bin/env bash
# kafka.sh - local, real Apache Kafka (KRaft) cluster for integration tests.
#
# Kafka comes from Maven Central jars (no tarball download): `install` resolves
# kafka_2.13 + kafka-tools + a log4j2 backend with Maven into a cache directory.
#
# Usage:
#   kafka.sh install
#   kafka.sh start   [--brokers 1|3] [--base-port P] [--dir DIR] [--timeout SECS]
#   kafka.sh stop    --dir DIR [--node I]
#   kafka.sh restart-node --dir DIR --node I [--timeout SECS]
#   kafka.sh status  --dir DIR
#   kafka.sh tool    CLASS [ARGS...]      run a Kafka tool class with the cached classpath
#   kafka.sh classpath                    print the Java classpath of the cached jars
#
# stdout of `start` (and `status`) carries only KEY=VALUE lines (DIR=..., BOOTSTRAP=...)
# so callers can `eval "$(kafka.sh start)"`; progress and errors go to stderr.
#
# Environment:
#   FRAUDSTREAM_KAFKA_VERSION  Kafka version to resolve (default 4.1.1)
#   FRAUDSTREAM_KAFKA_HOME     jar cache (default ~/.cache/fraudstream/kafka-<version>)
#   FRAUDSTREAM_KAFKA_TIMEOUT  readiness timeout in seconds (default 90)
#   FRAUDSTREAM_KAFKA_HEAP     broker -Xmx override (default 512m for 1 broker, 384m for 3)
#   MVN                        maven executable (default mvn)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly POM="${SCRIPT_DIR}/pom.xml"
readonly KAFKA_VERSION="${FRAUDSTREAM_KAFKA_VERSION:-4.1.1}"
readonly KAFKA_HOME="${FRAUDSTREAM_KAFKA_HOME:-${HOME}/.cache/fraudstream/kafka-${KAFKA_VERSION}}"
readonly LIBS="${KAFKA_HOME}/libs"
readonly MARKER="${KAFKA_HOME}/.installed"
# Bump when the layout of the cache (generated configs, marker content) changes.
readonly CACHE_LAYOUT=1
readonly MVN="${MVN:-mvn}"

readonly BROKER_MAIN="kafka.Kafka"
readonly STORAGE_TOOL="kafka.tools.StorageTool"
readonly API_VERSIONS_TOOL="org.apache.kafka.tools.BrokerApiVersionsCommand"
readonly STOP_GRACE_SECS=30

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
}

now_secs() { date +%s; }

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

marker_content() {
    local pom_sum
    pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
    printf 'kafka=%s layout=%s pom=%s\n' "$KAFKA_VERSION" "$CACHE_LAYOUT" "$pom_sum"
}

is_installed() {
    [[ -f "$MARKER" && -d "$LIBS" ]] || return 1
    [[ "$(cat "$MARKER")" == "$(marker_content)" ]] || return 1
    [[ -f "${KAFKA_HOME}/config/log4j2-server.xml" && -f "${KAFKA_HOME}/config/log4j2-tools.xml" ]]
}

write_log4j_configs() {
    local cfg="$1"
    mkdir -p "$cfg"
    # Broker: everything goes to files under ${sys:kafka.logs.dir}, nothing to the terminal.
    cat >"${cfg}/log4j2-server.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="server" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="50 MB"/>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
    <RollingFile name="stateChange" fileName="${sys:kafka.logs.dir}/state-change.log"
                 filePattern="${sys:kafka.logs.dir}/state-change.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <SizeBasedTriggeringPolicy size="20 MB"/>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/></Root>
    <Logger name="state.change.logger" level="INFO" additivity="false">
      <AppenderRef ref="stateChange"/>
    </Logger>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.network.RequestChannel$" level="WARN"/>
  </Loggers>
</Configuration>
EOF
    # Tools (admin/console clients): warnings and errors only, on stderr.
    cat >"${cfg}/log4j2-tools.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

jar_has_class() {
    local cls="${1//.//}.class" jar
    for jar in "$2"/*.jar; do
        if unzip -l "$jar" "$cls" >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}

do_install_locked() {
    if is_installed; then
        return 0
    fi
    command -v "$MVN" >/dev/null 2>&1 || die "maven ('$MVN') not found on PATH"
    command -v java >/dev/null 2>&1 || die "java not found on PATH"
    log "resolving Kafka ${KAFKA_VERSION} jars from Maven Central into ${LIBS} ..."
    local t0 staging
    t0="$(now_secs)"
    staging="${KAFKA_HOME}/libs.tmp.$$"
    rm -rf "$staging"
    if ! "$MVN" -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$staging" >"${KAFKA_HOME}/install.log" 2>&1; then
        rm -rf "$staging"
        grep -E 'ERROR|FAIL' "${KAFKA_HOME}/install.log" | tail -n 20 >&2 || true
        die "maven could not resolve org.apache.kafka:kafka_2.13:${KAFKA_VERSION} (full log: ${KAFKA_HOME}/install.log)"
    fi
    local cls
    for cls in "$BROKER_MAIN" "$STORAGE_TOOL" "$API_VERSIONS_TOOL" \
        org.apache.kafka.tools.TopicCommand \
        org.apache.logging.slf4j.Log4jLoggerFactory \
        org.apache.logging.log4j.core.LoggerContext; do
        if ! jar_has_class "$cls" "$staging"; then
            rm -rf "$staging"
            die "class ${cls} not found in resolved jars for Kafka ${KAFKA_VERSION}"
        fi
    done
    rm -rf "$LIBS"
    mv "$staging" "$LIBS"
    write_log4j_configs "${KAFKA_HOME}/config"
    marker_content >"$MARKER"
    log "installed Kafka ${KAFKA_VERSION} ($(find "$LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS" | cut -f1)) in $(($(now_secs) - t0))s"
}

cmd_install() {
    [[ $# -eq 0 ]] || die "install takes no arguments"
    if is_installed; then
        return 0
    fi
    mkdir -p "$KAFKA_HOME"
    # Serialise concurrent installs (parallel test packages) on the same cache.
    exec 9>"${KAFKA_HOME}/.lock"
    flock 9
    do_install_locked
    exec 9>&-
}

classpath() { printf '%s/*' "$LIBS"; }

tools_java() {
    # Short-lived client JVM tuned for start-up time rather than throughput.
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="${KAFKA_HOME}/config/log4j2-tools.xml" \
        -cp "$(classpath)" "$@"
}

cmd_tool() {
    [[ $# -ge 1 ]] || die "usage: kafka.sh tool CLASS [ARGS...]  (e.g. org.apache.kafka.tools.TopicCommand --list --bootstrap-server ...)"
    cmd_install
    tools_java "$@"
}

cmd_classpath() {
    cmd_install
    classpath
    printf '\n'
}

# ---------------------------------------------------------------------------
# cluster helpers
# ---------------------------------------------------------------------------

# Values loaded from DIR/cluster.env
BROKERS=""
BASE_PORT=""
CLUSTER_ID=""
CLUSTER_KAFKA_VERSION=""

node_dir() { printf '%s/node-%s' "$DIR" "$1"; }
broker_port() { printf '%s' "$((BASE_PORT + $1 - 1))"; }
controller_port() { printf '%s' "$((BASE_PORT + 100 + $1 - 1))"; }

bootstrap_list() {
    local i out=""
    for ((i = 1; i <= BROKERS; i++)); do
        out+="${out:+,}127.0.0.1:$(broker_port "$i")"
    done
    printf '%s' "$out"
}

load_cluster_env() {
    [[ -f "${DIR}/cluster.env" ]] || die "${DIR} is not a kafka.sh cluster directory (no cluster.env)"
    # shellcheck source=/dev/null
    source "${DIR}/cluster.env"
    [[ -n "$BROKERS" && -n "$BASE_PORT" && -n "$CLUSTER_ID" ]] || die "corrupt ${DIR}/cluster.env"
    if [[ -n "$CLUSTER_KAFKA_VERSION" && "$CLUSTER_KAFKA_VERSION" != "$KAFKA_VERSION" ]]; then
        log "warning: ${DIR} was created with Kafka ${CLUSTER_KAFKA_VERSION}, running ${KAFKA_VERSION}"
    fi
}

check_node_arg() {
    local n="$1"
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > BROKERS)); then
        die "--node must be between 1 and ${BROKERS}"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if process $1 is a broker JVM (kafka.Kafka) started with config file $2.
is_node_proc() {
    local args
    args="$(tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    grep -qxF "$BROKER_MAIN" <<<"$args" && grep -qxF "$2" <<<"$args"
}

# Prints the pid of node I's broker if it is running, else returns 1.
node_pid() {
    local i="$1" nd pid cfg p
    nd="$(node_dir "$i")"
    cfg="${nd}/server.properties"
    if [[ -f "${nd}/kafka.pid" ]]; then
        pid="$(cat "${nd}/kafka.pid")"
        if [[ "$pid" =~ ^[0-9]+$ ]] && is_node_proc "$pid" "$cfg"; then
            printf '%s' "$pid"
            return 0
        fi
    fi
    # Pid file missing or stale: look for a broker JVM started with this node's config.
    for p in /proc/[0-9]*; do
        if is_node_proc "${p#/proc/}" "$cfg"; then
            printf '%s' "${p#/proc/}"
            return 0
        fi
    done
    return 1
}

write_node_config() {
    local i="$1" nd voters="" j rf isr
    nd="$(node_dir "$i")"
    for ((j = 1; j <= BROKERS; j++)); do
        voters+="${voters:+,}${j}@127.0.0.1:$(controller_port "$j")"
    done
    if ((BROKERS >= 3)); then rf=3 isr=2; else rf=1 isr=1; fi
    mkdir -p "${nd}/data" "${nd}/logs"
    cat >"${nd}/server.properties" <<EOF
# Generated by deploy/kafka/kafka.sh - KRaft combined broker+controller, node ${i} of ${BROKERS}.
process.roles=broker,controller
node.id=${i}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${nd}/data

# Test-friendly cluster defaults.
num.partitions=1
default.replication.factor=${rf}
min.insync.replicas=${isr}
offsets.topic.replication.factor=${rf}
transaction.state.log.replication.factor=${rf}
transaction.state.log.min.isr=${isr}
share.coordinator.state.topic.replication.factor=${rf}
share.coordinator.state.topic.min.isr=${isr}
# Fewer internal-topic partitions than production (50) so the first consumer
# group / transactional producer does not stall a 2-core machine.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
EOF
}

format_nodes() {
    # Formats every node in $@ that has no meta.properties yet, in parallel.
    local i nd jobs_=() failed=0
    for i in "$@"; do
        nd="$(node_dir "$i")"
        if [[ -f "${nd}/data/meta.properties" ]]; then
            continue
        fi
        tools_java "$STORAGE_TOOL" format -t "$CLUSTER_ID" -c "${nd}/server.properties" \
            >"${nd}/logs/format.log" 2>&1 &
        jobs_+=("$!:$i")
    done
    local entry
    for entry in ${jobs_[@]+"${jobs_[@]}"}; do
        if ! wait "${entry%%:*}"; then
            i="${entry#*:}"
            log "formatting storage of node ${i} failed:"
            cat "$(node_dir "$i")/logs/format.log" >&2
            failed=1
        fi
    done
    ((failed == 0)) || die "storage format failed"
}

broker_heap() {
    if [[ -n "${FRAUDSTREAM_KAFKA_HEAP:-}" ]]; then
        printf '%s' "$FRAUDSTREAM_KAFKA_HEAP"
    elif ((BROKERS >= 3)); then
        printf '384m'
    else
        printf '512m'
    fi
}

launch_node() {
    local i="$1" nd heap
    nd="$(node_dir "$i")"
    heap="$(broker_heap)"
    rm -f "${nd}/kafka.pid"
    local banner
    banner="===== $(date '+%F %T') kafka.sh: starting node ${i} ====="
    printf '%s\n' "$banner" >>"${nd}/logs/stdout.log"
    printf '%s\n' "$banner" >>"${nd}/logs/server.log"
    # setsid: detach from the caller's session/terminal so the broker outlives it;
    # the inner shell records its own pid and then execs the JVM (same pid).
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "${nd}/kafka.pid" \
        java "-Xms${heap}" "-Xmx${heap}" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dkafka.logs.dir="${nd}/logs" \
        -Dlog4j2.configurationFile="${KAFKA_HOME}/config/log4j2-server.xml" \
        -cp "$(classpath)" "$BROKER_MAIN" "${nd}/server.properties" \
        </dev/null >>"${nd}/logs/stdout.log" 2>&1 &
    local k
    for ((k = 0; k < 50; k++)); do
        [[ -s "${nd}/kafka.pid" ]] && break
        sleep 0.1
    done
    [[ -s "${nd}/kafka.pid" ]] || die "node ${i}: broker process did not start"
    log "node ${i}: started pid $(cat "${nd}/kafka.pid") (heap ${heap}, broker 127.0.0.1:$(broker_port "$i"), controller 127.0.0.1:$(controller_port "$i"))"
}

dump_node_logs() {
    local i nd
    for i in "$@"; do
        nd="$(node_dir "$i")"
        printf '\n----- node %s: tail of %s -----\n' "$i" "${nd}/logs/server.log" >&2
        tail -n 40 "${nd}/logs/server.log" >&2 2>/dev/null || printf '(no server.log)\n' >&2
        if [[ -s "${nd}/logs/stdout.log" ]]; then
            printf -- '----- node %s: tail of %s -----\n' "$i" "${nd}/logs/stdout.log" >&2
            tail -n 20 "${nd}/logs/stdout.log" >&2
        fi
    done
}

# Number of brokers that a metadata request through bootstrap $1 reports.
registered_brokers() {
    local out
    out="$(timeout 30 java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Dlog4j2.configurationFile="${KAFKA_HOME}/config/log4j2-tools.xml" \
        -cp "$(classpath)" "$API_VERSIONS_TOOL" \
        --bootstrap-server "$1" --command-config "${DIR}/client.properties" 2>/dev/null)" || true
    grep -E '^[^ ]+ \(id: [0-9]+ rack: ' <<<"$out" | grep -cv 'isFenced: true' || true
}

# wait_ready TIMEOUT BOOTSTRAP NODES...: waits until every listed node process is alive,
# its broker port accepts connections, and a metadata request through BOOTSTRAP lists
# all BROKERS brokers (i.e. all registered and unfenced).
wait_ready() {
    local timeout="$1" bootstrap="$2"
    shift 2
    local nodes=("$@") deadline i pending count=0
    deadline=$(($(now_secs) + timeout))
    while :; do
        pending=0
        for i in "${nodes[@]}"; do
            node_pid "$i" >/dev/null || {
                log "node ${i} exited during start-up"
                dump_node_logs "$i"
                return 1
            }
            port_in_use "$(broker_port "$i")" || pending=1
        done
        ((pending == 0)) && break
        (($(now_secs) < deadline)) || {
            log "timed out after ${timeout}s waiting for broker ports to open"
            dump_node_logs "${nodes[@]}"
            return 1
        }
        sleep 0.25
    done
    while :; do
        count="$(registered_brokers "$bootstrap")"
        if ((count == BROKERS)); then
            return 0
        fi
        for i in "${nodes[@]}"; do
            node_pid "$i" >/dev/null || {
                log "node ${i} exited during start-up"
                dump_node_logs "$i"
                return 1
            }
        done
        (($(now_secs) < deadline)) || {
            log "timed out after ${timeout}s: metadata via ${bootstrap} lists ${count}/${BROKERS} brokers"
            dump_node_logs "${nodes[@]}"
            return 1
        }
        sleep 1
    done
}

stop_nodes() {
    # SIGTERM all given nodes at once, wait up to STOP_GRACE_SECS, then SIGKILL.
    local i pid nd deadline any
    local -A pids=()
    for i in "$@"; do
        if pid="$(node_pid "$i")"; then
            pids[$i]="$pid"
            kill -TERM "$pid" 2>/dev/null || true
            log "node ${i}: SIGTERM sent to pid ${pid}"
        fi
    done
    deadline=$(($(now_secs) + STOP_GRACE_SECS))
    while :; do
        any=0
        for i in "${!pids[@]}"; do
            if kill -0 "${pids[$i]}" 2>/dev/null; then any=1; fi
        done
        ((any == 0)) && break
        if (($(now_secs) >= deadline)); then
            for i in "${!pids[@]}"; do
                if kill -0 "${pids[$i]}" 2>/dev/null; then
                    log "node ${i}: still alive after ${STOP_GRACE_SECS}s, sending SIGKILL"
                    kill -KILL "${pids[$i]}" 2>/dev/null || true
                fi
            done
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    for i in "$@"; do
        nd="$(node_dir "$i")"
        rm -f "${nd}/kafka.pid"
        if [[ -n "${pids[$i]:-}" ]]; then log "node ${i}: stopped"; fi
    done
}

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------

DIR=""

cmd_start() {
    local brokers="" base_port="" timeout="${FRAUDSTREAM_KAFKA_TIMEOUT:-90}"
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --brokers) brokers="${2:?--brokers needs a value}"; shift 2 ;;
        --base-port) base_port="${2:?--base-port needs a value}"; shift 2 ;;
        --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
        --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
        *) die "start: unknown argument '$1'" ;;
        esac
    done
    [[ -z "$brokers" || "$brokers" == 1 || "$brokers" == 3 ]] || die "--brokers must be 1 or 3"
    [[ -z "$base_port" || "$base_port" =~ ^[0-9]+$ ]] || die "--base-port must be a number"
    [[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"

    cmd_install

    if [[ -z "$DIR" ]]; then
        DIR="$(mktemp -d "${TMPDIR:-/tmp}/fraudstream-kafka.XXXXXX")"
    fi
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"

    local i
    if [[ -f "${DIR}/cluster.env" ]]; then
        # Resume a previously stopped cluster with its existing storage.
        load_cluster_env
        [[ -z "$brokers" || "$brokers" == "$BROKERS" ]] || die "${DIR} holds a ${BROKERS}-broker cluster, not ${brokers}"
        [[ -z "$base_port" || "$base_port" == "$BASE_PORT" ]] || die "${DIR} uses base port ${BASE_PORT}, not ${base_port}"
        for ((i = 1; i <= BROKERS; i++)); do
            if node_pid "$i" >/dev/null; then
                die "node ${i} of ${DIR} is already running (use stop first, or restart-node)"
            fi
        done
        check_ports_free
        log "resuming existing ${BROKERS}-broker cluster ${CLUSTER_ID} in ${DIR}"
    else
        BROKERS="${brokers:-1}"
        BASE_PORT="${base_port:-19092}"
        check_ports_free
        # Kafka Uuid: 16 random bytes, URL-safe base64 without padding; avoid a leading '-'.
        CLUSTER_ID=""
        while [[ -z "$CLUSTER_ID" || "$CLUSTER_ID" == -* ]]; do
            CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        done
        {
            printf 'BROKERS=%q\n' "$BROKERS"
            printf 'BASE_PORT=%q\n' "$BASE_PORT"
            printf 'CLUSTER_ID=%q\n' "$CLUSTER_ID"
            printf 'CLUSTER_KAFKA_VERSION=%q\n' "$KAFKA_VERSION"
        } >"${DIR}/cluster.env"
        log "new ${BROKERS}-broker cluster ${CLUSTER_ID} in ${DIR}"
    fi

    write_client_properties
    local nodes=()
    for ((i = 1; i <= BROKERS; i++)); do
        write_node_config "$i"
        nodes+=("$i")
    done
    format_nodes "${nodes[@]}"

    local t0
    t0="$(now_secs)"
    for i in "${nodes[@]}"; do
        launch_node "$i"
    done
    if ! wait_ready "$timeout" "$(bootstrap_list)" "${nodes[@]}"; then
        log "cluster in ${DIR} failed to become ready; stopping its nodes (logs kept in ${DIR}/node-*/logs)"
        stop_nodes "${nodes[@]}" || true
        exit 1
    fi
    log "cluster ready in $(($(now_secs) - t0))s"
    printf 'DIR=%q\n' "$DIR"
    printf 'BOOTSTRAP=%s\n' "$(bootstrap_list)"
}

check_ports_free() {
    local i
    ((BASE_PORT >= 1024 && BASE_PORT + 100 + BROKERS - 1 <= 65535)) || die "--base-port out of range"
    for ((i = 1; i <= BROKERS; i++)); do
        if port_in_use "$(broker_port "$i")"; then die "port $(broker_port "$i") on 127.0.0.1 is already in use"; fi
        if port_in_use "$(controller_port "$i")"; then die "port $(controller_port "$i") on 127.0.0.1 is already in use"; fi
    done
}

write_client_properties() {
    # Used by the readiness probe: fail fast instead of the 60s client defaults.
    cat >"${DIR}/client.properties" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
socket.connection.setup.timeout.ms=2000
socket.connection.setup.timeout.max.ms=3000
EOF
}

parse_dir_node() {
    # Sets DIR and NODE from --dir/--node (NODE may stay empty).
    NODE=""
    TIMEOUT="${FRAUDSTREAM_KAFKA_TIMEOUT:-90}"
    while [[ $# -gt 0 ]]; do
        case "$1" in
        --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
        --node) NODE="${2:?--node needs a value}"; shift 2 ;;
        --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
        *) die "unknown argument '$1'" ;;
        esac
    done
    [[ -n "$DIR" ]] || die "--dir is required"
    [[ -d "$DIR" ]] || die "no such directory: ${DIR}"
    DIR="$(cd "$DIR" && pwd)"
    [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
    load_cluster_env
    [[ -z "$NODE" ]] || check_node_arg "$NODE"
}

cmd_stop() {
    parse_dir_node "$@"
    if [[ -n "$NODE" ]]; then
        stop_nodes "$NODE"
    else
        local i nodes=()
        for ((i = 1; i <= BROKERS; i++)); do nodes+=("$i"); done
        stop_nodes "${nodes[@]}"
    fi
}

cmd_restart_node() {
    parse_dir_node "$@"
    [[ -n "$NODE" ]] || die "restart-node: --node is required"
    cmd_install
    local nd
    nd="$(node_dir "$NODE")"
    [[ -f "${nd}/data/meta.properties" ]] || die "node ${NODE} has no formatted storage in ${nd}/data"
    if node_pid "$NODE" >/dev/null; then
        log "node ${NODE} is running; stopping it first"
        stop_nodes "$NODE"
    fi
    if port_in_use "$(broker_port "$NODE")"; then die "port $(broker_port "$NODE") on 127.0.0.1 is already in use"; fi
    if port_in_use "$(controller_port "$NODE")"; then die "port $(controller_port "$NODE") on 127.0.0.1 is already in use"; fi
    write_client_properties
    local t0
    t0="$(now_secs)"
    launch_node "$NODE"
    # Ask the restarted node itself: it must be serving and see all brokers unfenced.
    if ! wait_ready "$TIMEOUT" "127.0.0.1:$(broker_port "$NODE")" "$NODE"; then
        log "node ${NODE} failed to become ready; stopping it"
        stop_nodes "$NODE" || true
        exit 1
    fi
    log "node ${NODE} ready in $(($(now_secs) - t0))s"
    printf 'DIR=%q\n' "$DIR"
    printf 'BOOTSTRAP=%s\n' "$(bootstrap_list)"
}

cmd_status() {
    parse_dir_node "$@"
    local i pid up=0
    for ((i = 1; i <= BROKERS; i++)); do
        if pid="$(node_pid "$i")"; then
            up=$((up + 1))
            printf 'node %s: running pid=%s broker=127.0.0.1:%s controller=127.0.0.1:%s\n' \
                "$i" "$pid" "$(broker_port "$i")" "$(controller_port "$i")" >&2
        else
            printf 'node %s: stopped broker=127.0.0.1:%s controller=127.0.0.1:%s\n' \
                "$i" "$(broker_port "$i")" "$(controller_port "$i")" >&2
        fi
    done
    printf 'CLUSTER_ID=%s\n' "$CLUSTER_ID"
    printf 'RUNNING=%s/%s\n' "$up" "$BROKERS"
    printf 'DIR=%q\n' "$DIR"
    printf 'BOOTSTRAP=%s\n' "$(bootstrap_list)"
    ((up == BROKERS))
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    restart-node) cmd_restart_node "$@" ;;
    status) cmd_status "$@" ;;
    tool) cmd_tool "$@" ;;
    classpath) cmd_classpath "$@" ;;
    -h | --help | help) usage ;;
    *)
        [[ -z "$cmd" ]] || log "unknown command '${cmd}'"
        usage
        exit 2
        ;;
    esac
}

main "$@"
