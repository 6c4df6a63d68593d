package session

import (
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
)

// View is the SDK's Session model.
type View struct {
	ID                    string         `json:"id"`
	Active                bool           `json:"active"`
	ExpiresAt             time.Time      `json:"expires_at"`
	AuthenticatedAt       time.Time      `json:"authenticated_at"`
	AAL                   string         `json:"authenticator_assurance_level"`
	AuthenticationMethods []Method       `json:"authentication_methods"`
	IssuedAt              time.Time      `json:"issued_at"`
	Identity              *identity.View `json:"identity,omitempty"`
	Devices               []Device       `json:"devices"`
}

// View renders s; admin views show the identity as the admin API does.
func (m *Manager) View(s *Session, admin bool) View {
	v := View{
		ID: s.ID.String(), Active: s.Active, ExpiresAt: s.ExpiresAt, AuthenticatedAt: s.AuthenticatedAt,
		AAL: s.AAL, AuthenticationMethods: s.Methods, IssuedAt: s.IssuedAt, Devices: s.Devices,
	}
	if v.AuthenticationMethods == nil {
		v.AuthenticationMethods = []Method{}
	}
	if v.Devices == nil {
		v.Devices = []Device{}
	}
	if s.Identity != nil {
		iv := s.Identity.View(identity.ViewOptions{SchemaURL: m.schemaURL(s.Identity.SchemaID), Admin: admin})
		v.Identity = &iv
	}
	return v
}

// SchemaURL is the public URL of an identity schema.
func (m *Manager) SchemaURL(id string) string { return m.schemaURL(id) }
