package identity

import (
	"encoding/json"
	"log/slog"
)

// Declassifier turns the config of a credential as stored, with secrets
// sealed at rest, into the config the admin API shows with
// include_credential: the shape Kratos stores and shows.
type Declassifier func(stored json.RawMessage) (json.RawMessage, error)

// SetDeclassifier makes the admin API show credentials of type typ through
// d. Call it while wiring, before serving.
func (m *Manager) SetDeclassifier(typ string, d Declassifier) {
	if m.declassifiers == nil {
		m.declassifiers = map[string]Declassifier{}
	}
	m.declassifiers[typ] = d
}

// declassify is the config of a typ credential as the admin API shows it.
// A config that cannot be opened (say, after its cipher secret was
// removed) is shown as stored: still sealed, never half-opened.
func (m *Manager) declassify(typ string, stored json.RawMessage) json.RawMessage {
	d := m.declassifiers[typ]
	if d == nil || len(stored) == 0 {
		return stored
	}
	shown, err := d(stored)
	if err != nil {
		slog.Warn("a credential config could not be opened for the admin API; it is shown as stored", "type", typ, "error", err)
		return stored
	}
	return shown
}
