// Package registry is an in-process, Confluent-compatible Schema Registry.
//
// It lets `fraudstream dev` and tests use the Confluent wire format (magic
// byte 0, 4-byte big-endian schema id, Avro body) through franz-go's
// sr.Client exactly as against a real registry, with no external service: it
// plays the role for the schema registry that kfake plays for Kafka.
//
// Start with [New], then either [Server.Start] (listens on 127.0.0.1 and
// returns the URL to give to sr.URLs) or use the *Server directly as an
// http.Handler with net/http/httptest. [WithDataFile] keeps registered schemas
// in a JSON file so that a restarted `dev` hands out the same ids.
//
// # What is implemented
//
// The subset of the Confluent REST API that franz-go's sr client and typical
// producers use, with Confluent's JSON shapes, the content type
// application/vnd.schemaregistry.v1+json and Confluent error bodies
// ({"error_code":40401,"message":"Subject 'x' not found."}):
//
//   - POST /subjects/{subject}/versions registers a schema. The same schema in
//     the same subject returns the existing id without a new version; the same
//     schema in another subject reuses the global id. schemaType defaults to
//     AVRO; references are checked (the referenced subject/version must exist)
//     and stored. Ids and versions count 1, 2, 3 … and are never reused.
//   - POST /subjects/{subject} looks a schema up under a subject.
//   - GET /schemas, /schemas/types, /schemas/ids/{id}, /schemas/ids/{id}/schema,
//     /schemas/ids/{id}/versions, /schemas/ids/{id}/subjects.
//   - GET /subjects, /subjects/{subject}/versions,
//     /subjects/{subject}/versions/{version|latest} (and …/schema,
//     …/referencedby); DELETE /subjects/{subject} and
//     /subjects/{subject}/versions/{version}, soft by default and hard with
//     permanent=true (after a soft delete, as Confluent requires). The
//     deleted=true and deletedOnly=true listing parameters are honoured.
//   - GET/PUT/DELETE /config and /config/{subject}: the compatibility level,
//     default BACKWARD (see [WithDefaultCompatibility]); a subject without its
//     own level answers 40408 unless defaultToGlobal=true, as Confluent does.
//   - POST /compatibility/subjects/{subject}/versions/{version|latest} and
//     …/versions (against all versions), answering {"is_compatible":bool} and,
//     when incompatible, "messages".
//   - GET /mode and /mode/{subject} always answer READWRITE.
//
// Schema text equality is decided on canonical JSON (parsed and re-marshalled
// compactly with sorted object keys), so whitespace and key order do not
// create new ids; the text first registered is what is returned.
//
// AVRO schemas are parsed and validated (names, namespaces, named-type
// references within the schema and through references, duplicate fields and
// union branches, default values against their types, as Avro's Java parser
// does). On register, and on the compatibility endpoint, AVRO schemas are
// checked with Avro's reader/writer resolution rules: record fields by name
// or reader alias, new reader fields need a default, primitives may only be
// promoted (int→long→float→double, string↔bytes), a writer union needs every
// branch readable, a reader union needs some branch that reads the writer,
// enum symbols, fixed sizes and names must match. All levels are honoured:
// NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE forms (BACKWARD: the new
// schema must read data written with the latest version).
//
// # What is not implemented
//
// Schema contexts (/contexts/…; sr.InContext requests get a 404), modes other
// than READWRITE (no IMPORT mode: registering with an explicit id or version
// is accepted only when it matches what would be assigned anyway, otherwise
// 42205), data contracts (metadata and ruleSet are accepted and dropped),
// GUIDs, pagination, the normalize and format parameters (comparison is always
// on canonical JSON), authentication, and compatibility checks for JSON and
// PROTOBUF schemas: those are stored (JSON must parse) and always compatible,
// except that changing a subject's schemaType is incompatible.
//
// # Why not franz-go's srfake
//
// pkg/sr/srfake is a fine mock, but it answers every compatibility check with
// true and keeps nothing on disk. Here a bad schema evolution must fail in
// `dev` as it would in production, and ids must survive a restart because
// records already in the embedded Kafka carry them.
package registry
