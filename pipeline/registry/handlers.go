package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// contentType is what Confluent answers with, and what sr.Client sends.
const contentType = "application/vnd.schemaregistry.v1+json"

// maxBodyBytes bounds request bodies; real schemas are a few KiB.
const maxBodyBytes = 8 << 20

// rawText is a response written as is: the …/schema endpoints answer the
// schema text itself, not a JSON string holding it.
type rawText string

// endpointFunc handles one request with s.mu held. body is the request body,
// read before taking the lock so that a slow client cannot stall others.
type endpointFunc func(r *http.Request, body []byte) (any, *apiError)

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	handle := func(pattern string, fn endpointFunc) { m.Handle(pattern, s.endpoint(fn)) }

	handle("GET /{$}", func(*http.Request, []byte) (any, *apiError) { return struct{}{}, nil })

	// Schemas by id.
	handle("GET /schemas/types", func(*http.Request, []byte) (any, *apiError) {
		return []string{typeAvro, typeJSON, typeProtobuf}, nil
	})
	handle("GET /schemas", s.getSchemas)
	handle("GET /schemas/ids/{id}", s.getSchemaByID)
	handle("GET /schemas/ids/{id}/schema", s.getSchemaTextByID)
	handle("GET /schemas/ids/{id}/versions", s.getVersionsByID)
	handle("GET /schemas/ids/{id}/subjects", s.getSubjectsByID)

	// Subjects.
	handle("GET /subjects", s.getSubjects)
	handle("POST /subjects/{subject}", s.postLookup)
	handle("DELETE /subjects/{subject}", s.deleteSubjectHandler)
	handle("GET /subjects/{subject}/versions", s.getSubjectVersions)
	handle("POST /subjects/{subject}/versions", s.postRegister)
	handle("GET /subjects/{subject}/versions/{version}", s.getVersion)
	handle("GET /subjects/{subject}/versions/{version}/schema", s.getVersionText)
	handle("GET /subjects/{subject}/versions/{version}/referencedby", s.getReferencedBy)
	handle("DELETE /subjects/{subject}/versions/{version}", s.deleteVersionHandler)

	// Compatibility.
	handle("POST /compatibility/subjects/{subject}/versions/{version}", s.postCompatibility)
	handle("POST /compatibility/subjects/{subject}/versions", s.postCompatibility)
	handle("GET /config", s.getConfig)
	handle("PUT /config", s.putConfig)
	handle("DELETE /config", s.deleteConfig)
	handle("GET /config/{subject}", s.getConfig)
	handle("PUT /config/{subject}", s.putConfig)
	handle("DELETE /config/{subject}", s.deleteConfig)

	// Modes: only READWRITE exists here.
	readWrite := func(*http.Request, []byte) (any, *apiError) { return map[string]string{"mode": "READWRITE"}, nil }
	handle("GET /mode", readWrite)
	handle("GET /mode/{subject}", readWrite)

	// Everything else, including /contexts/…, in Confluent's 404 shape.
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound()) })
	return m
}

func (s *Server) endpoint(fn endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					writeError(w, newAPIError(codeBodyTooLarge, "request body larger than %d bytes", maxBodyBytes))
					return
				}
				writeError(w, errBadRequest("read request body: %v", err))
				return
			}
			body = b
		}
		s.mu.Lock()
		v, e := fn(r, body)
		s.mu.Unlock()
		if e != nil {
			writeError(w, e)
			return
		}
		w.Header().Set("Content-Type", contentType)
		if t, ok := v.(rawText); ok {
			_, _ = io.WriteString(w, string(t))
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // schema docs may contain <, > and &
	if err := enc.Encode(v); err != nil {
		status, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString(`{"error_code":50001,"message":"encode response"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, struct {
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}{e.code, e.msg})
}

func queryBool(r *http.Request, name string) bool {
	b, _ := strconv.ParseBool(r.URL.Query().Get(name))
	return b
}

func decodeSchemaRequest(body []byte) (schemaRequest, *apiError) {
	var req schemaRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil // answered as an empty schema by prepare
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, errBadRequest("invalid JSON body: %v", err)
	}
	return req, nil
}

func pathID(r *http.Request) (int, *apiError) {
	s := r.PathValue("id")
	id, err := strconv.Atoi(s)
	if err != nil || id <= 0 {
		return 0, newAPIError(codeSchemaNotFound, "Schema %s not found", s)
	}
	return id, nil
}

func pathVersion(r *http.Request) (int, *apiError) { return parseVersion(r.PathValue("version")) }

func (s *Server) getSchemaByID(r *http.Request, _ []byte) (any, *apiError) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	sch, ok := s.byID[id]
	if !ok {
		return nil, errSchemaIDNotFound(id)
	}
	resp := schemaResponse{References: sch.References, Schema: sch.Schema}
	if sch.Type != typeAvro {
		resp.SchemaType = sch.Type
	}
	if queryBool(r, "fetchMaxId") {
		resp.MaxID = s.st.NextID - 1
	}
	return resp, nil
}

func (s *Server) getSchemaTextByID(r *http.Request, _ []byte) (any, *apiError) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	sch, ok := s.byID[id]
	if !ok {
		return nil, errSchemaIDNotFound(id)
	}
	return rawText(sch.Schema), nil
}

// usages lists the subject versions that use schema id, in subject order.
func (s *Server) usages(id int, withDeleted bool) []subjectVersion {
	out := []subjectVersion{}
	for _, name := range s.st.sortedSubjects() {
		for _, v := range s.st.Subjects[name].Versions {
			if v.ID == id && (withDeleted || !v.Deleted) {
				out = append(out, subjectVersion{Subject: name, Version: v.Version})
			}
		}
	}
	return out
}

func (s *Server) getVersionsByID(r *http.Request, _ []byte) (any, *apiError) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	if _, ok := s.byID[id]; !ok {
		return nil, errSchemaIDNotFound(id)
	}
	return s.usages(id, queryBool(r, "deleted")), nil
}

func (s *Server) getSubjectsByID(r *http.Request, _ []byte) (any, *apiError) {
	id, e := pathID(r)
	if e != nil {
		return nil, e
	}
	if _, ok := s.byID[id]; !ok {
		return nil, errSchemaIDNotFound(id)
	}
	out := []string{}
	for _, u := range s.usages(id, queryBool(r, "deleted")) {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	return out, nil
}

func (s *Server) getSchemas(r *http.Request, _ []byte) (any, *apiError) {
	prefix := r.URL.Query().Get("subjectPrefix")
	withDeleted, latestOnly := queryBool(r, "deleted"), queryBool(r, "latestOnly")
	out := []schemaResponse{}
	for _, name := range s.st.sortedSubjects() {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		sub := s.st.Subjects[name]
		if latestOnly {
			if i := sub.latest(withDeleted); i >= 0 {
				out = append(out, s.response(name, sub.Versions[i]))
			}
			continue
		}
		for _, v := range sub.Versions {
			if withDeleted || !v.Deleted {
				out = append(out, s.response(name, v))
			}
		}
	}
	return out, nil
}

func (s *Server) getSubjects(r *http.Request, _ []byte) (any, *apiError) {
	prefix := r.URL.Query().Get("subjectPrefix")
	withDeleted, deletedOnly := queryBool(r, "deleted"), queryBool(r, "deletedOnly")
	out := []string{}
	for _, name := range s.st.sortedSubjects() {
		sub := s.st.Subjects[name]
		if len(sub.Versions) == 0 || !strings.HasPrefix(name, prefix) {
			continue
		}
		live := sub.live()
		if (deletedOnly && live) || (!deletedOnly && !withDeleted && !live) {
			continue
		}
		out = append(out, name)
	}
	return out, nil
}

func (s *Server) getSubjectVersions(r *http.Request, _ []byte) (any, *apiError) {
	withDeleted, deletedOnly := queryBool(r, "deleted"), queryBool(r, "deletedOnly")
	sub, e := s.subjectFor(r.PathValue("subject"), withDeleted || deletedOnly)
	if e != nil {
		return nil, e
	}
	out := []int{}
	for _, v := range sub.Versions {
		if (deletedOnly && v.Deleted) || (!deletedOnly && (withDeleted || !v.Deleted)) {
			out = append(out, v.Version)
		}
	}
	return out, nil
}

func (s *Server) postRegister(r *http.Request, body []byte) (any, *apiError) {
	req, e := decodeSchemaRequest(body)
	if e != nil {
		return nil, e
	}
	id, e := s.register(r.PathValue("subject"), req)
	if e != nil {
		return nil, e
	}
	return map[string]int{"id": id}, nil
}

func (s *Server) postLookup(r *http.Request, body []byte) (any, *apiError) {
	req, e := decodeSchemaRequest(body)
	if e != nil {
		return nil, e
	}
	return s.lookup(r.PathValue("subject"), req, queryBool(r, "deleted"))
}

func (s *Server) getVersion(r *http.Request, _ []byte) (any, *apiError) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	subject := r.PathValue("subject")
	sv, e := s.version(subject, v, queryBool(r, "deleted"))
	if e != nil {
		return nil, e
	}
	return s.response(subject, sv), nil
}

func (s *Server) getVersionText(r *http.Request, _ []byte) (any, *apiError) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	sv, e := s.version(r.PathValue("subject"), v, queryBool(r, "deleted"))
	if e != nil {
		return nil, e
	}
	return rawText(s.byID[sv.ID].Schema), nil
}

func (s *Server) getReferencedBy(r *http.Request, _ []byte) (any, *apiError) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	subject := r.PathValue("subject")
	sv, e := s.version(subject, v, queryBool(r, "deleted"))
	if e != nil {
		return nil, e
	}
	return s.referencedBy(subject, sv.Version, false), nil
}

func (s *Server) deleteSubjectHandler(r *http.Request, _ []byte) (any, *apiError) {
	return s.deleteSubject(r.PathValue("subject"), queryBool(r, "permanent"))
}

func (s *Server) deleteVersionHandler(r *http.Request, _ []byte) (any, *apiError) {
	v, e := pathVersion(r)
	if e != nil {
		return nil, e
	}
	return s.deleteVersion(r.PathValue("subject"), v, queryBool(r, "permanent"))
}

func (s *Server) postCompatibility(r *http.Request, body []byte) (any, *apiError) {
	all := r.PathValue("version") == ""
	var version int
	if !all {
		var e *apiError
		if version, e = pathVersion(r); e != nil {
			return nil, e
		}
	}
	req, e := decodeSchemaRequest(body)
	if e != nil {
		return nil, e
	}
	return s.checkCompatibility(r.PathValue("subject"), version, all, req)
}

// getConfig answers {"compatibilityLevel": …}. A subject without its own
// level is 40408 unless defaultToGlobal=true, as in Confluent.
func (s *Server) getConfig(r *http.Request, _ []byte) (any, *apiError) {
	level := s.globalLevel()
	if subject := r.PathValue("subject"); subject != "" {
		sub := s.st.Subjects[subject]
		switch {
		case sub != nil && sub.Compatibility != "":
			level = sub.Compatibility
		case !queryBool(r, "defaultToGlobal"):
			return nil, errSubjectCompatNotConfigured(subject)
		}
	}
	return map[string]string{"compatibilityLevel": level}, nil
}

// putConfig takes {"compatibility": …} and answers the same shape.
func (s *Server) putConfig(r *http.Request, body []byte) (any, *apiError) {
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errBadRequest("invalid JSON body: %v", err)
	}
	level, ok := parseLevel(req.Compatibility)
	if !ok {
		return nil, errInvalidCompatibilityLevel(req.Compatibility)
	}
	subject := r.PathValue("subject")
	if subject != "" {
		if e := validSubject(subject); e != nil {
			return nil, e
		}
	}
	if e := s.setLevel(subject, level); e != nil {
		return nil, e
	}
	return map[string]string{"compatibility": level}, nil
}

func (s *Server) deleteConfig(r *http.Request, _ []byte) (any, *apiError) {
	prev, e := s.resetLevel(r.PathValue("subject"))
	if e != nil {
		return nil, e
	}
	return map[string]string{"compatibility": prev}, nil
}
