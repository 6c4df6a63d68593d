package courier

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
)

// Template types, as Kratos names them.
const (
	RecoveryValid           = "recovery_valid"
	RecoveryInvalid         = "recovery_invalid"
	RecoveryCodeValid       = "recovery_code_valid"
	RecoveryCodeInvalid     = "recovery_code_invalid"
	VerificationValid       = "verification_valid"
	VerificationInvalid     = "verification_invalid"
	VerificationCodeValid   = "verification_code_valid"
	VerificationCodeInvalid = "verification_code_invalid"
	LoginCodeValid          = "login_code_valid"
	RegistrationCodeValid   = "registration_code_valid"
)

// Via values of a message: where it goes.
const (
	ViaEmail = "email"
	ViaSMS   = "sms"
)

// Message is one message a flow asks the courier to send. Its template
// type decides which of the fields its templates see, and under which
// names (see fieldsOf): exactly what Kratos's model of that type holds.
type Message struct {
	// Template is the template type, e.g. RecoveryCodeValid.
	Template string
	// Via is ViaEmail (also when empty) or ViaSMS.
	Via string
	To  string
	// Code is the recovery, verification, login or registration code;
	// URL the link.
	Code, URL string
	// Identity owns the address. Templates see its public part only:
	// never credentials or metadata_admin.
	Identity *identity.Identity
	// Traits are those of a registration that has no identity yet
	// (RegistrationCodeValid): its templates see them in place of one.
	Traits map[string]any
	// RequestURL is the URL the flow was started with.
	RequestURL string
	// TransientPayload is the transient_payload of the submission that
	// asked for the message; nil reads as {}.
	TransientPayload map[string]any
	// ExpiresIn is the lifespan of the code or link.
	ExpiresIn time.Duration
}

func (m Message) channel() string {
	if m.Via == ViaSMS {
		return ViaSMS
	}
	return ViaEmail
}

// field is one value of a template type's data: Go templates read it by
// its Go name ({{ .RecoveryCode }}), Jsonnet bodies of HTTP channels and
// the stored template_data by its JSON name (ctx.template_data.recovery_code).
type field struct {
	goName, jsonName string
	value            func(Message) any
	// restore cleans the field's value as read back from a stored row;
	// nil keeps it as it is.
	restore func(any) any
}

var (
	fieldTo               = field{"To", "to", func(m Message) any { return m.To }, nil}
	fieldRecoveryCode     = field{"RecoveryCode", "recovery_code", func(m Message) any { return m.Code }, nil}
	fieldRecoveryURL      = field{"RecoveryURL", "recovery_url", func(m Message) any { return m.URL }, nil}
	fieldVerificationCode = field{"VerificationCode", "verification_code", func(m Message) any { return m.Code }, nil}
	fieldVerificationURL  = field{"VerificationURL", "verification_url", func(m Message) any { return m.URL }, nil}
	fieldIdentity         = field{"Identity", "identity", func(m Message) any { return templateIdentity(m.Identity) }, reparseIdentity}
	fieldLoginCode        = field{"LoginCode", "login_code", func(m Message) any { return m.Code }, nil}
	fieldRegistrationCode = field{"RegistrationCode", "registration_code", func(m Message) any { return m.Code }, nil}
	fieldTraits           = field{"Traits", "traits", func(m Message) any { return objectOrEmpty(m.Traits) }, restoreObject}
	fieldRequestURL       = field{"RequestURL", "request_url", func(m Message) any { return m.RequestURL }, nil}
	fieldRequestURLDomain = field{"RequestURLDomain", "request_url_domain", func(m Message) any { return hostOf(m.RequestURL) }, nil}
	fieldTransient        = field{"TransientPayload", "transient_payload", func(m Message) any { return transientPayload(m.TransientPayload) }, nil}
	fieldExpiresIn        = field{"ExpiresInMinutes", "expires_in_minutes", func(m Message) any { return int(m.ExpiresIn.Minutes()) }, nil}
	// Kratos's SMS model of a recovery code names it verification_code
	// in JSON; Jsonnet bodies written for Kratos read it so.
	fieldRecoveryCodeSMS = field{"RecoveryCode", "verification_code", func(m Message) any { return m.Code }, nil}
	// Kratos's SMS model of a registration code has the traits under
	// Identity, as there is no identity yet.
	fieldTraitsAsIdentity = field{"Identity", "identity", fieldTraits.value, restoreObject}
)

// noticeFields are what a message to an address without an account holds.
var noticeFields = []field{fieldTo, fieldRequestURL, fieldTransient}

// templateFields are each template type's fields by channel, as in
// Kratos's models; a type without SMS fields uses its email fields.
var templateFields = map[string]map[string][]field{
	RecoveryValid: {ViaEmail: {fieldTo, fieldRecoveryURL, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn}},
	RecoveryCodeValid: {
		ViaEmail: {fieldTo, fieldRecoveryCode, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
		ViaSMS:   {fieldTo, fieldRecoveryCodeSMS, fieldIdentity, fieldRequestURL, fieldRequestURLDomain, fieldTransient, fieldExpiresIn},
	},
	VerificationValid: {ViaEmail: {fieldTo, fieldVerificationURL, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn}},
	VerificationCodeValid: {
		ViaEmail: {fieldTo, fieldVerificationURL, fieldVerificationCode, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
		ViaSMS:   {fieldTo, fieldVerificationCode, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
	},
	RecoveryInvalid:         {ViaEmail: noticeFields},
	RecoveryCodeInvalid:     {ViaEmail: noticeFields},
	VerificationInvalid:     {ViaEmail: noticeFields},
	VerificationCodeInvalid: {ViaEmail: noticeFields},
	LoginCodeValid: {
		ViaEmail: {fieldTo, fieldLoginCode, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
		ViaSMS:   {fieldTo, fieldLoginCode, fieldIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
	},
	RegistrationCodeValid: {
		ViaEmail: {fieldTo, fieldTraits, fieldRegistrationCode, fieldRequestURL, fieldTransient, fieldExpiresIn},
		ViaSMS:   {fieldTo, fieldRegistrationCode, fieldTraitsAsIdentity, fieldRequestURL, fieldTransient, fieldExpiresIn},
	},
}

func fieldsOf(templateType, channel string) []field {
	byChannel := templateFields[templateType]
	if fs, ok := byChannel[channel]; ok {
		return fs
	}
	return byChannel[ViaEmail]
}

// data is what m's templates see, by Go name, and what is stored and sent
// to HTTP channels, by JSON name. Both come from the same values.
func (m Message) data() (goData, jsonData map[string]any) {
	fs := fieldsOf(m.Template, m.channel())
	goData, jsonData = make(map[string]any, len(fs)), make(map[string]any, len(fs))
	for _, f := range fs {
		v := f.value(m)
		goData[f.goName], jsonData[f.jsonName] = v, v
	}
	return goData, jsonData
}

// storedData reads stored template data back through the template type's
// fields: by Go name for templates and by JSON name for HTTP channels.
// Whatever the type does not define is dropped, and the identity is cut
// down to its public part again (and traits kept only as an object), so
// that nothing else a row may hold (rows queued by older versions kept the
// whole identity) leaves the process.
func storedData(templateType, channel string, stored map[string]any) (goData, jsonData map[string]any) {
	fs := fieldsOf(templateType, channel)
	goData, jsonData = make(map[string]any, len(fs)), make(map[string]any, len(fs))
	for _, f := range fs {
		v, ok := stored[f.jsonName]
		if !ok {
			v, ok = stored[f.goName] // rows queued before template_data used JSON names
		}
		if !ok {
			continue
		}
		if f.restore != nil {
			v = f.restore(v)
		}
		goData[f.goName], jsonData[f.jsonName] = v, v
	}
	return goData, jsonData
}

// identityView is the identity as Kratos's templates see it: its admin
// API view without credentials and metadata_admin. The fields are listed
// one by one so that nothing new reaches a message unnoticed.
type identityView struct {
	ID                  string                           `json:"id"`
	SchemaID            string                           `json:"schema_id"`
	SchemaURL           string                           `json:"schema_url"`
	State               string                           `json:"state"`
	StateChangedAt      *time.Time                       `json:"state_changed_at,omitempty"`
	Traits              json.RawMessage                  `json:"traits"`
	VerifiableAddresses []identity.VerifiableAddressView `json:"verifiable_addresses,omitempty"`
	RecoveryAddresses   []identity.RecoveryAddressView   `json:"recovery_addresses,omitempty"`
	MetadataPublic      json.RawMessage                  `json:"metadata_public"`
	ExternalID          *string                          `json:"external_id,omitempty"`
	CreatedAt           time.Time                        `json:"created_at"`
	UpdatedAt           time.Time                        `json:"updated_at"`
	OrganizationID      *string                          `json:"organization_id"`
}

// templateIdentity is i's identityView as a map, so that Go templates
// read {{ .Identity.traits.email }} as with Kratos.
func templateIdentity(i *identity.Identity) map[string]any {
	if i == nil {
		return map[string]any{}
	}
	v := identityView{
		ID: i.ID.String(), SchemaID: i.SchemaID, State: i.State, StateChangedAt: i.StateChangedAt,
		Traits: orNull(i.Traits), MetadataPublic: orNull(i.MetadataPublic), ExternalID: i.ExternalID,
		CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt,
	}
	for _, a := range i.VerifiableAddresses {
		v.VerifiableAddresses = append(v.VerifiableAddresses, identity.VerifiableAddressView{
			ID: a.ID.String(), Value: a.Value, Verified: a.Verified, Via: a.Via, Status: a.Status,
			VerifiedAt: a.VerifiedAt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		})
	}
	for _, a := range i.RecoveryAddresses {
		v.RecoveryAddresses = append(v.RecoveryAddresses, identity.RecoveryAddressView{
			ID: a.ID.String(), Value: a.Value, Via: a.Via, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		})
	}
	return viewMap(v)
}

// reparseIdentity passes a stored identity through identityView, which
// keeps the public fields only.
func reparseIdentity(stored any) any {
	raw, err := json.Marshal(stored)
	if err != nil {
		return map[string]any{}
	}
	var v identityView
	if json.Unmarshal(raw, &v) != nil {
		return map[string]any{}
	}
	return viewMap(v)
}

func viewMap(v identityView) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return map[string]any{}
	}
	return m
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// objectOrEmpty is never nil, so that templates read {{ .Traits.email }}
// without a nil check.
func objectOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// restoreObject keeps a stored object and drops anything else.
func restoreObject(stored any) any {
	m, ok := stored.(map[string]any)
	if !ok {
		return map[string]any{}
	}
	return m
}

// transientPayload is never nil: Kratos's templates get {} without one.
func transientPayload(p map[string]any) map[string]any {
	if p == nil {
		return map[string]any{}
	}
	return p
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// withStandIns fills in what a rehearsed message lacks: an identity and
// traits shaped like those of an owner of the address.
func (m Message) withStandIns() Message {
	if m.Identity == nil {
		m.Identity = standIn(m.channel(), m.To)
	}
	if m.Traits == nil {
		m.Traits = map[string]any{m.channel(): m.To}
	}
	return m
}

// standIn is the identity an address without an account is rehearsed
// with: shaped like a real one that has the address, so that rendering
// for it costs about as much.
func standIn(via, address string) *identity.Identity {
	traits, _ := json.Marshal(map[string]string{via: address})
	now := time.Now().UTC()
	return &identity.Identity{
		ID: uuid.New(), SchemaID: "default", State: identity.StateActive, Traits: traits,
		VerifiableAddresses: []identity.VerifiableAddress{{ID: uuid.New(), Via: via, Value: address, Status: identity.AddressStatusPending, CreatedAt: now, UpdatedAt: now}},
		RecoveryAddresses:   []identity.RecoveryAddress{{ID: uuid.New(), Via: via, Value: address, CreatedAt: now, UpdatedAt: now}},
		CreatedAt:           now, UpdatedAt: now,
	}
}
