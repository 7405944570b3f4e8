package registry

import (
	"fmt"
	"net/http"
	"strings"
)

// apiError is an error answered to an HTTP client as a Confluent error body.
// code is Confluent's error_code; status is the HTTP status, which for
// Confluent's five-digit codes is their first three digits.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newAPIError(code int, format string, args ...any) *apiError {
	status := code
	if code >= 10000 {
		status = code / 100
	}
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// Confluent error codes, from io.confluent.kafka.schemaregistry.rest.exceptions.Errors.
const (
	codeSubjectNotFound            = 40401
	codeVersionNotFound            = 40402
	codeSchemaNotFound             = 40403
	codeSubjectSoftDeleted         = 40404
	codeSubjectNotSoftDeleted      = 40405
	codeVersionSoftDeleted         = 40406
	codeVersionNotSoftDeleted      = 40407
	codeSubjectCompatNotConfigured = 40408
	codeIncompatibleSchema         = 409
	codeInvalidSchema              = 42201
	codeInvalidVersion             = 42202
	codeInvalidCompatibilityLevel  = 42203
	codeOperationNotPermitted      = 42205
	codeReferenceExists            = 42206
	codeInvalidSubject             = 42208
	codeStoreError                 = 50001
	codeBadRequest                 = http.StatusBadRequest
	codeNotFound                   = http.StatusNotFound
	codeBodyTooLarge               = http.StatusRequestEntityTooLarge
)

func errSubjectNotFound(subject string) *apiError {
	return newAPIError(codeSubjectNotFound, "Subject '%s' not found.", subject)
}

func errVersionNotFound(version int) *apiError {
	return newAPIError(codeVersionNotFound, "Version %d not found.", version)
}

func errSchemaIDNotFound(id int) *apiError {
	return newAPIError(codeSchemaNotFound, "Schema %d not found", id)
}

func errSchemaNotFound() *apiError {
	return newAPIError(codeSchemaNotFound, "Schema not found")
}

func errSubjectSoftDeleted(subject string) *apiError {
	return newAPIError(codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
}

func errSubjectNotSoftDeleted(subject string) *apiError {
	return newAPIError(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
}

func errVersionSoftDeleted(subject string, version int) *apiError {
	return newAPIError(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, version)
}

func errVersionNotSoftDeleted(subject string, version int) *apiError {
	return newAPIError(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, version)
}

func errSubjectCompatNotConfigured(subject string) *apiError {
	return newAPIError(codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
}

func errIncompatible(subject string, details []string) *apiError {
	return newAPIError(codeIncompatibleSchema,
		"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]",
		subject, strings.Join(details, ", "))
}

func errInvalidSchema(format string, args ...any) *apiError {
	return newAPIError(codeInvalidSchema, "Invalid schema: "+format, args...)
}

func errInvalidVersion(version string) *apiError {
	return newAPIError(codeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", version)
}

func errInvalidCompatibilityLevel(level string) *apiError {
	return newAPIError(codeInvalidCompatibilityLevel,
		"Invalid compatibility level '%s'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive", level)
}

func errNotInImportMode(subject string) *apiError {
	return newAPIError(codeOperationNotPermitted,
		"Subject '%s' is not in import mode: a schema can only be registered with the id and version the registry assigns", subject)
}

func errReferenceExists(subject string, version int, by []int) *apiError {
	return newAPIError(codeReferenceExists,
		"One or more references exist to the schema {subject=%s,version=%d}: referenced by schema ids %v", subject, version, by)
}

func errInvalidSubject(subject string) *apiError {
	return newAPIError(codeInvalidSubject, "Invalid subject '%s'", subject)
}

func errStore(err error) *apiError {
	return newAPIError(codeStoreError, "Error in the backend data store: %v", err)
}

func errBadRequest(format string, args ...any) *apiError {
	return newAPIError(codeBadRequest, format, args...)
}

func errNotFound() *apiError {
	return newAPIError(codeNotFound, "HTTP 404 Not Found")
}
