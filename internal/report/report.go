// Package report is the vocabulary every JSON document swarmctl prints
// shares: the header (schema_version, command, error, problems, warnings,
// duration_ms), the error object and the problem object. The commands
// embed Header in their documents; the engines (status, doctor) report
// problems with these codes. One place, so a CI job reads every document
// the same way: `.error == null` is success, `.problems[]` says what is
// wrong and where.
package report

// SchemaVersion of every JSON document. Fields are only added within a
// version; version 2 changed the types listed in the README ("JSON
// output").
const SchemaVersion = 2

// Header starts every JSON document.
type Header struct {
	SchemaVersion int    `json:"schema_version"`
	Command       string `json:"command"`
	// Error is set exactly when the command exits non-zero.
	Error *Error `json:"error,omitempty"`
	// Problems is everything found wrong (never null).
	Problems []Problem `json:"problems"`
	// Warnings never change the exit code (never null).
	Warnings   []string `json:"warnings"`
	DurationMS int64    `json:"duration_ms"`
}

// Head lets the printer fill the header of any document.
func (h *Header) Head() *Header { return h }

// Error says why a command failed: a stable code, the message printed on
// stderr, and what to do next.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// Problem is one thing found wrong; Node is "" when it is not about one
// node (the stack, the endpoint, the local machine).
type Problem struct {
	Code    string `json:"code"`
	Node    string `json:"node"`
	Message string `json:"message"`
}

// String is the problem as printed: "node: message".
func (p Problem) String() string {
	if p.Node == "" {
		return p.Message
	}
	return p.Node + ": " + p.Message
}

// Error codes (Error.Code).
const (
	ErrUsage           = "usage"            // bad flag, argument or command
	ErrInput           = "input"            // bad value, inventory or file: nothing touched
	ErrConsentRequired = "consent-required" // restarts or removals without a terminal and without --yes
	ErrDeclined        = "declined"         // the user answered no
	ErrNodesFailed     = "nodes-failed"     // at least one node failed or was left unconfigured
	ErrDegraded        = "degraded"         // status: a problem was found
	ErrCouldNotCheck   = "could-not-check"  // status, doctor: something could not be checked
	ErrProblems        = "problems-found"   // doctor: a check failed
	ErrInstallFailed   = "install-failed"
	ErrUninstallFailed = "uninstall-failed"
	ErrApplyFailed     = "apply-failed"
	ErrNoManager       = "no-manager" // no reachable swarm manager to work through
	ErrInterrupted     = "interrupted"
	ErrExists          = "exists" // init: the file is already there
	ErrFailed          = "failed" // anything else
)

// Problem codes (Problem.Code).
const (
	ProblemUnreachable       = "unreachable"
	ProblemNodeFailed        = "node-failed"
	ProblemNotAttempted      = "not-attempted"
	ProblemNotConfigured     = "not-configured"
	ProblemPending           = "pending"
	ProblemDaemonJSONInvalid = "daemon-json-invalid"
	ProblemNoDockerService   = "no-docker-service"
	ProblemNodeError         = "node-error"
	ProblemServiceUnchecked  = "service-unchecked"
	ProblemServiceMissing    = "service-missing"
	ProblemServiceScaledDown = "service-scaled-to-zero"
	ProblemReplicasShort     = "replicas-short"
	ProblemReplicaDown       = "replica-down"  // one cache of several down; pulls still have a path
	ProblemReplicasDown      = "replicas-down" // no cache of an upstream answers
	ProblemEndpointUnchecked = "endpoint-unchecked"
	ProblemEndpointDown      = "endpoint-unreachable"
	ProblemEndpointStatus    = "endpoint-status"
	ProblemTLSInvalid        = "tls-invalid"
	ProblemFromManager       = "from-manager"
	ProblemNodesUnchecked    = "nodes-unchecked"
	ProblemPhaseFailed       = "phase-failed"
	ProblemInstallFailed     = "install-failed"
	ProblemUninstallFailed   = "uninstall-failed"
	ProblemNoManager         = "no-manager"
	ProblemNotSelected       = "not-selected"
	// ProblemCAMissing: a node lacks the mirror's CA (mirror.ca_file) in certs.d.
	ProblemCAMissing = "ca-missing"
)
