package registry

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file holds the registry operations behind the HTTP endpoints. Every
// method here is called with s.mu held; they return *apiError so that a
// handler answers exactly Confluent's error code.

// schemaRequest is the body of register, lookup and compatibility requests.
// "metadata" and "ruleSet" (data contracts) are accepted and ignored.
type schemaRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []reference `json:"references"`
	// ID and Version are only sent by clients asking for a fixed id or
	// version (IMPORT mode, which is not implemented).
	ID      int `json:"id"`
	Version int `json:"version"`
}

// schemaResponse is Confluent's Schema / SubjectSchema JSON object.
type schemaResponse struct {
	Subject    string      `json:"subject,omitempty"`
	Version    int         `json:"version,omitempty"`
	ID         int         `json:"id,omitempty"`
	SchemaType string      `json:"schemaType,omitempty"` // omitted for AVRO, as Confluent does
	References []reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	MaxID      int         `json:"maxId,omitempty"` // only with fetchMaxId=true
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type compatResult struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// candidate is a submitted schema, validated and identified.
type candidate struct {
	typ  string
	text string
	refs []reference // versions resolved ("latest" → a number)
	key  string
	avro *avroSchema // AVRO only, when parsed
}

// parseVersion parses a version path segment; "latest" and -1 give -1.
func parseVersion(s string) (int, *apiError) {
	if s == "latest" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v == 0 || v < -1 || v > math.MaxInt32 {
		return 0, errInvalidVersion(s)
	}
	return v, nil
}

func validSubject(subject string) *apiError {
	if strings.TrimSpace(subject) == "" || strings.ContainsFunc(subject, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errInvalidSubject(subject)
	}
	return nil
}

// prepare validates a submitted schema. With parse, AVRO schemas are fully
// parsed (register and compatibility need it); lookups only need the key.
func (s *Server) prepare(req schemaRequest, parse bool) (*candidate, *apiError) {
	if strings.TrimSpace(req.Schema) == "" {
		return nil, errInvalidSchema("empty schema")
	}
	typ, ok := parseSchemaType(req.SchemaType)
	if !ok {
		return nil, errInvalidSchema("unknown schemaType %q (want AVRO, JSON or PROTOBUF)", req.SchemaType)
	}
	canonical, decoded, err := canonicalText(typ, req.Schema)
	if err != nil {
		return nil, errInvalidSchema("%v", err)
	}
	var refs []reference
	for _, ref := range req.References {
		if ref.Name == "" {
			return nil, errInvalidSchema("a reference needs a name")
		}
		_, version, e := s.referenced(ref)
		if e != nil {
			return nil, e
		}
		ref.Version = version
		refs = append(refs, ref)
	}
	c := &candidate{typ: typ, text: req.Schema, refs: refs, key: schemaKey(typ, canonical, refs)}
	if parse && typ == typeAvro {
		p := newAvroParser()
		if err := s.loadReferences(p, refs, 0, make(map[int]bool)); err != nil {
			return nil, errInvalidSchema("%v", err)
		}
		if c.avro, err = p.parseDocument(decoded); err != nil {
			return nil, errInvalidSchema("%v", err)
		}
	}
	return c, nil
}

// referenced resolves a reference to its schema and concrete version.
// Soft-deleted versions still resolve: schemas already registered against
// them must keep parsing.
func (s *Server) referenced(ref reference) (*storedSchema, int, *apiError) {
	sub := s.st.Subjects[ref.Subject]
	i := -1
	if sub != nil {
		i = sub.find(ref.Version, true)
	}
	if i < 0 {
		return nil, 0, errInvalidSchema("reference %q: subject %q version %d not found", ref.Name, ref.Subject, ref.Version)
	}
	v := sub.Versions[i]
	return s.byID[v.ID], v.Version, nil
}

// maxReferenceDepth bounds reference chains. Cycles cannot be registered
// (a reference must exist first), so this only guards against a hand-edited
// data file.
const maxReferenceDepth = 32

// loadReferences parses the referenced AVRO schemas into p, depth first, so
// that the schema being parsed can use the names they define.
func (s *Server) loadReferences(p *avroParser, refs []reference, depth int, done map[int]bool) error {
	if depth > maxReferenceDepth {
		return fmt.Errorf("references nested deeper than %d", maxReferenceDepth)
	}
	for _, ref := range refs {
		sch, _, e := s.referenced(ref)
		if e != nil {
			return e
		}
		if done[sch.ID] {
			continue
		}
		if sch.Type != typeAvro {
			return fmt.Errorf("reference %q is a %s schema, not AVRO", ref.Name, sch.Type)
		}
		if err := s.loadReferences(p, sch.References, depth+1, done); err != nil {
			return err
		}
		decoded, err := decodeJSON(sch.Schema)
		if err != nil {
			return fmt.Errorf("reference %q: %w", ref.Name, err)
		}
		if _, err := p.parseDocument(decoded); err != nil {
			return fmt.Errorf("reference %q (subject %q version %d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
		done[sch.ID] = true
	}
	return nil
}

// parsedAvro returns a stored AVRO schema parsed, caching the result.
func (s *Server) parsedAvro(sch *storedSchema) (*avroSchema, error) {
	if sch.parsed != nil {
		return sch.parsed, nil
	}
	p := newAvroParser()
	if err := s.loadReferences(p, sch.References, 0, make(map[int]bool)); err != nil {
		return nil, err
	}
	decoded, err := decodeJSON(sch.Schema)
	if err != nil {
		return nil, err
	}
	if sch.parsed, err = p.parseDocument(decoded); err != nil {
		return nil, err
	}
	return sch.parsed, nil
}

// levelFor returns the compatibility level in force for subject.
func (s *Server) levelFor(subject string) string {
	if sub := s.st.Subjects[subject]; sub != nil && sub.Compatibility != "" {
		return sub.Compatibility
	}
	return s.globalLevel()
}

func (s *Server) globalLevel() string {
	if s.st.Compatibility != "" {
		return s.st.Compatibility
	}
	return s.opts.defaultCompat
}

// liveVersions returns the versions that are not soft-deleted, oldest first.
func liveVersions(sub *storedSubject) []storedVersion {
	var out []storedVersion
	if sub == nil {
		return nil
	}
	for _, v := range sub.Versions {
		if !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

// incompatibilities checks c against each of the given versions in the
// directions level asks for. Messages follow Confluent's verbose style.
func (s *Server) incompatibilities(c *candidate, level string, against []storedVersion) []string {
	backward, forward, _ := levelDirections(level)
	if !backward && !forward {
		return nil
	}
	var msgs []string
	for _, v := range against {
		old := s.byID[v.ID]
		var vmsgs []string
		switch {
		case old.Type != c.typ:
			vmsgs = append(vmsgs, fmt.Sprintf("{errorType:'SCHEMA_TYPE_CHANGED', description:'schemaType changed from %s to %s'}", old.Type, c.typ))
		case c.typ != typeAvro:
			// JSON and PROTOBUF compatibility is not checked (see package doc).
		default:
			oldAvro, err := s.parsedAvro(old)
			if err != nil {
				vmsgs = append(vmsgs, fmt.Sprintf("{errorType:'UNPARSABLE_OLD_SCHEMA', description:'%v'}", err))
				break
			}
			if backward {
				for _, m := range avroIncompatibilities(c.avro, oldAvro) {
					vmsgs = append(vmsgs, "new schema reading data written with version "+strconv.Itoa(v.Version)+": "+m)
				}
			}
			if forward {
				for _, m := range avroIncompatibilities(oldAvro, c.avro) {
					vmsgs = append(vmsgs, "version "+strconv.Itoa(v.Version)+" reading data written with the new schema: "+m)
				}
			}
		}
		if len(vmsgs) > 0 {
			msgs = append(msgs, fmt.Sprintf("{oldSchemaVersion: %d}", v.Version))
			msgs = append(msgs, vmsgs...)
		}
	}
	if len(msgs) > 0 {
		msgs = append(msgs, fmt.Sprintf("{compatibility: '%s'}", level))
	}
	return msgs
}

// register adds req under subject and returns its global id.
func (s *Server) register(subject string, req schemaRequest) (int, *apiError) {
	if e := validSubject(subject); e != nil {
		return 0, e
	}
	c, e := s.prepare(req, true)
	if e != nil {
		return 0, e
	}
	sub := s.st.Subjects[subject]

	// Already a live version of this subject: same id, no new version.
	for _, v := range liveVersions(sub) {
		if s.byID[v.ID].key == c.key {
			if (req.ID > 0 && req.ID != v.ID) || (req.Version > 0 && req.Version != v.Version) {
				return 0, errNotInImportMode(subject)
			}
			return v.ID, nil
		}
	}

	level := s.levelFor(subject)
	against := liveVersions(sub)
	if _, _, transitive := levelDirections(level); !transitive && len(against) > 0 {
		against = against[len(against)-1:]
	}
	if msgs := s.incompatibilities(c, level, against); len(msgs) > 0 {
		return 0, errIncompatible(subject, msgs)
	}

	sch, known := s.byKey[c.key] // the same schema in another subject keeps its id
	id := s.st.NextID
	if known {
		id = sch.ID
	}
	version := 1
	if sub != nil && len(sub.Versions) > 0 {
		version = sub.Versions[len(sub.Versions)-1].Version + 1
	}
	if (req.ID > 0 && req.ID != id) || (req.Version > 0 && req.Version != version) {
		return 0, errNotInImportMode(subject)
	}

	if !known {
		sch = &storedSchema{ID: id, Type: c.typ, Schema: c.text, References: c.refs, key: c.key, parsed: c.avro}
		s.st.Schemas = append(s.st.Schemas, sch)
		s.st.NextID++
		s.byID[id] = sch
		s.byKey[c.key] = sch
	}
	if sub == nil {
		sub = &storedSubject{}
		s.st.Subjects[subject] = sub
	}
	sub.Versions = append(sub.Versions, storedVersion{Version: version, ID: id})
	if e := s.commit(); e != nil {
		return 0, e
	}
	s.logger.Info("schema registered", "subject", subject, "version", version, "id", id, "new_id", !known, "schema_type", c.typ)
	return id, nil
}

// subjectFor returns a subject that exists: it has a live version, or any
// version when withDeleted.
func (s *Server) subjectFor(subject string, withDeleted bool) (*storedSubject, *apiError) {
	sub := s.st.Subjects[subject]
	if sub == nil || len(sub.Versions) == 0 || (!withDeleted && !sub.live()) {
		return nil, errSubjectNotFound(subject)
	}
	return sub, nil
}

// version returns one version of a subject; v == -1 is the latest.
func (s *Server) version(subject string, v int, withDeleted bool) (storedVersion, *apiError) {
	sub, e := s.subjectFor(subject, withDeleted)
	if e != nil {
		return storedVersion{}, e
	}
	i := sub.find(v, withDeleted)
	if i < 0 {
		return storedVersion{}, errVersionNotFound(v)
	}
	return sub.Versions[i], nil
}

func (s *Server) response(subject string, v storedVersion) schemaResponse {
	sch := s.byID[v.ID]
	r := schemaResponse{Subject: subject, Version: v.Version, ID: v.ID, References: sch.References, Schema: sch.Schema}
	if sch.Type != typeAvro {
		r.SchemaType = sch.Type
	}
	return r
}

// lookup finds req among subject's versions (newest first).
func (s *Server) lookup(subject string, req schemaRequest, withDeleted bool) (schemaResponse, *apiError) {
	sub, e := s.subjectFor(subject, withDeleted)
	if e != nil {
		return schemaResponse{}, e
	}
	c, e := s.prepare(req, false)
	if e != nil {
		return schemaResponse{}, e
	}
	for i := len(sub.Versions) - 1; i >= 0; i-- {
		v := sub.Versions[i]
		if (withDeleted || !v.Deleted) && s.byID[v.ID].key == c.key {
			return s.response(subject, v), nil
		}
	}
	return schemaResponse{}, errSchemaNotFound()
}

// referencedBy returns the ids of schemas that reference subject/version and
// are used by a live version (or by any version, with withDeleted).
func (s *Server) referencedBy(subject string, version int, withDeleted bool) []int {
	ids := []int{}
	for _, name := range s.st.sortedSubjects() {
		for _, v := range s.st.Subjects[name].Versions {
			if v.Deleted && !withDeleted {
				continue
			}
			for _, ref := range s.byID[v.ID].References {
				if ref.Subject == subject && ref.Version == version && !slices.Contains(ids, v.ID) {
					ids = append(ids, v.ID)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// deleteSubject soft-deletes all versions of a subject, or with permanent
// removes a soft-deleted subject (and its subject-level configuration).
func (s *Server) deleteSubject(subject string, permanent bool) ([]int, *apiError) {
	sub := s.st.Subjects[subject]
	if sub == nil || len(sub.Versions) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if !permanent && !sub.live() {
		return nil, errSubjectSoftDeleted(subject)
	}
	if permanent && sub.live() {
		return nil, errSubjectNotSoftDeleted(subject)
	}
	deleted := []int{}
	for _, v := range sub.Versions {
		if !permanent && v.Deleted {
			continue
		}
		if by := s.referencedBy(subject, v.Version, permanent); len(by) > 0 {
			return nil, errReferenceExists(subject, v.Version, by)
		}
		deleted = append(deleted, v.Version)
	}
	if permanent {
		delete(s.st.Subjects, subject)
	} else {
		for i := range sub.Versions {
			sub.Versions[i].Deleted = true
		}
	}
	if e := s.commit(); e != nil {
		return nil, e
	}
	s.logger.Info("schema subject deleted", "subject", subject, "versions", deleted, "permanent", permanent)
	return deleted, nil
}

// deleteVersion soft-deletes one version, or with permanent removes a
// soft-deleted one. Schema ids stay valid: records carry them.
func (s *Server) deleteVersion(subject string, version int, permanent bool) (int, *apiError) {
	sub := s.st.Subjects[subject]
	if sub == nil || len(sub.Versions) == 0 {
		return 0, errSubjectNotFound(subject)
	}
	i := sub.find(version, permanent)
	if i < 0 {
		if !permanent && version != -1 && sub.find(version, true) >= 0 {
			return 0, errVersionSoftDeleted(subject, version)
		}
		return 0, errVersionNotFound(version)
	}
	v := sub.Versions[i]
	if permanent && !v.Deleted {
		return 0, errVersionNotSoftDeleted(subject, v.Version)
	}
	if by := s.referencedBy(subject, v.Version, permanent); len(by) > 0 {
		return 0, errReferenceExists(subject, v.Version, by)
	}
	if permanent {
		sub.Versions = slices.Delete(sub.Versions, i, i+1)
		if len(sub.Versions) == 0 && sub.Compatibility == "" {
			delete(s.st.Subjects, subject)
		}
	} else {
		sub.Versions[i].Deleted = true
	}
	if e := s.commit(); e != nil {
		return 0, e
	}
	s.logger.Info("schema version deleted", "subject", subject, "version", v.Version, "id", v.ID, "permanent", permanent)
	return v.Version, nil
}

// checkCompatibility answers POST /compatibility/…: against one version, or
// all live versions when all is true.
func (s *Server) checkCompatibility(subject string, version int, all bool, req schemaRequest) (compatResult, *apiError) {
	var against []storedVersion
	if all {
		against = liveVersions(s.st.Subjects[subject])
	} else {
		v, e := s.version(subject, version, false)
		if e != nil {
			return compatResult{}, e
		}
		against = []storedVersion{v}
	}
	c, e := s.prepare(req, true)
	if e != nil {
		return compatResult{}, e
	}
	msgs := s.incompatibilities(c, s.levelFor(subject), against)
	return compatResult{IsCompatible: len(msgs) == 0, Messages: msgs}, nil
}

// setLevel sets the global (subject == "") or a subject's level.
func (s *Server) setLevel(subject, level string) *apiError {
	if subject == "" {
		s.st.Compatibility = level
	} else {
		sub := s.st.Subjects[subject]
		if sub == nil {
			sub = &storedSubject{}
			s.st.Subjects[subject] = sub
		}
		sub.Compatibility = level
	}
	if e := s.commit(); e != nil {
		return e
	}
	s.logger.Info("schema compatibility set", "subject", subject, "level", level)
	return nil
}

// resetLevel removes the global or a subject's level and returns the one it
// replaced.
func (s *Server) resetLevel(subject string) (string, *apiError) {
	var prev string
	if subject == "" {
		prev = s.globalLevel()
		s.st.Compatibility = ""
	} else {
		sub := s.st.Subjects[subject]
		if sub == nil {
			return "", errSubjectNotFound(subject)
		}
		if sub.Compatibility == "" {
			return "", errSubjectCompatNotConfigured(subject)
		}
		prev = sub.Compatibility
		sub.Compatibility = ""
		if len(sub.Versions) == 0 {
			delete(s.st.Subjects, subject)
		}
	}
	if e := s.commit(); e != nil {
		return "", e
	}
	return prev, nil
}
