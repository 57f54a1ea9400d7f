// Package actor is the authenticated person a regime's action is done by, and the request it
// came in, as the seal and reuse regimes record them on the audit trail.
package actor

import (
	"time"

	"sealvault/audit"
	"sealvault/internal/identity"
)

// Actor is the authenticated person acting, and the request it came in.
type Actor struct {
	User      identity.User
	RequestID string
	ClientIP  string
}

// Event is the audit event of an action a does at now.
func (a Actor) Event(now time.Time, action string, subjects map[string]string, details map[string]any) audit.Event {
	return audit.Event{Time: now, Actor: Of(a.User), Action: action, Subjects: subjects, Details: details,
		RequestID: a.RequestID, ClientIP: a.ClientIP}
}

// Of is how the audit trail names u: id, department and roles.
func Of(u identity.User) audit.Actor {
	act := audit.Actor{UserID: u.ID.String(), DepartmentID: u.DepartmentID.String()}
	for _, r := range u.Roles {
		act.Roles = append(act.Roles, string(r))
	}
	return act
}
