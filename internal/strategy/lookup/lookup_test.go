package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

var ctx = context.Background()

func newCipher(t *testing.T) cipher.Cipher {
	t.Helper()
	c, err := cipher.New(cipher.XChaCha20Poly1305, []string{"0123456789abcdefghijklmnopqrstuv"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type fixture struct {
	s   *store.Store
	ids *identity.Manager
	m   *Method
}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	ids, _ := identitytest.NewManager(t, s, "https://auth.example.com/")
	return &fixture{s: s, ids: ids, m: New(ids, newCipher(t))}
}

// user creates an identity and answers it as stored.
func (f *fixture) user(t *testing.T, email string) *identity.Identity {
	t.Helper()
	pw := "a-long-enough-password"
	i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`), Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	return f.reload(t, i)
}

func (f *fixture) reload(t *testing.T, i *identity.Identity) *identity.Identity {
	t.Helper()
	got, err := f.ids.Get(ctx, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// commit runs an outcome's Commit in a transaction of its own.
func (f *fixture) commit(out *flow.Outcome) (*identity.Identity, error) {
	var written *identity.Identity
	err := f.s.Write(ctx, func(q *store.Q) error {
		var err error
		written, err = out.Commit(ctx, q)
		return err
	})
	return written, err
}

func settingsFlow() *flow.Flow {
	return &flow.Flow{Kind: flow.Settings, Internal: map[string]json.RawMessage{}, UI: &flow.Container{}}
}

func loginFlow(aal string) *flow.Flow {
	return &flow.Flow{Kind: flow.Login, RequestedAAL: aal, Internal: map[string]json.RawMessage{}, UI: &flow.Container{}}
}

// formMessage is the one message of a FormError.
func formMessage(t *testing.T, err error) *text.Message {
	t.Helper()
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 1 {
		t.Fatalf("error %v; want a FormError of one message", err)
	}
	return fe[0].Message
}

func names(f *flow.Flow) []string {
	var out []string
	for _, n := range f.UI.Nodes {
		if n.Attributes.NodeType == flow.NodeText {
			out = append(out, "text:"+n.Attributes.ID)
			continue
		}
		out = append(out, n.Attributes.Name)
	}
	return out
}

func TestRandomCodes(t *testing.T) {
	seen := map[string]bool{}
	chars := map[rune]int{}
	for range 200 {
		set, err := newSet()
		if err != nil {
			t.Fatal(err)
		}
		if len(set) != setSize {
			t.Fatalf("a set of %d codes", len(set))
		}
		for _, c := range set {
			if len(c.Value) != codeLength || strings.Trim(c.Value, alphabet) != "" || c.UsedAt != nil {
				t.Fatalf("code %q", c.Value)
			}
			if seen[c.Value] {
				t.Fatalf("code %q drawn twice", c.Value)
			}
			seen[c.Value] = true
			for _, r := range c.Value {
				chars[r]++
			}
		}
	}
	// 19200 characters: every one of the 36 is drawn (each ~533 times).
	if len(chars) != len(alphabet) {
		t.Errorf("only %d distinct characters drawn", len(chars))
	}
}

func TestSealedCodes(t *testing.T) {
	c := newCipher(t)
	set, _ := newSet()
	raw, err := seal(c, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range set {
		if strings.Contains(string(raw), rc.Value) {
			t.Fatalf("the stored config holds code %s in the clear: %s", rc.Value, raw)
		}
	}
	if !hasCodes(raw) || hasCodes([]byte(`{"recovery_codes":[]}`)) || hasCodes([]byte(`nope`)) {
		t.Error("hasCodes")
	}
	// The identity's second factor counts, as Kratos counts it.
	i := &identity.Identity{Credentials: map[string]*identity.Credential{ID: {Type: ID, Config: raw}}}
	if got := (identity.FactorRules{}).AvailableAAL(i); got != identity.AAL2 {
		t.Errorf("available AAL with sealed codes = %s", got)
	}

	cfg, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := open(c, cfg)
	if err != nil || len(opened) != setSize || opened[3].Value != set[3].Value {
		t.Fatalf("open = %v, %v", opened, err)
	}
	if k := match(opened, set[7].Value); k != 7 {
		t.Errorf("match = %d, want 7", k)
	}
	for _, wrong := range []string{"", "x", set[7].Value + "x", strings.ToUpper(set[7].Value), " " + set[7].Value} {
		if k := match(opened, wrong); k != -1 {
			t.Errorf("match(%q) = %d", wrong, k)
		}
	}

	// Another key, or a tampered code, is a server fault.
	other, _ := cipher.New(cipher.XChaCha20Poly1305, []string{"vutsrqponmlkjihgfedcba9876543210"})
	if _, err := open(other, cfg); !errors.Is(err, errCorrupt) {
		t.Errorf("open with another key: %v", err)
	}
	if _, err := decode([]byte(`{"recovery_codes":"x"}`)); !errors.Is(err, errCorrupt) {
		t.Errorf("decode garbage: %v", err)
	}

	// The admin API's view: Kratos's shape in the clear.
	m := New(nil, c)
	shown, err := m.Declassify(raw)
	if err != nil {
		t.Fatal(err)
	}
	var kratos struct {
		RecoveryCodes []map[string]any `json:"recovery_codes"`
	}
	if err := json.Unmarshal(shown, &kratos); err != nil || len(kratos.RecoveryCodes) != setSize {
		t.Fatalf("declassified %s: %v", shown, err)
	}
	if got := kratos.RecoveryCodes[0]; got["code"] != set[0].Value || got["used_at"] != nil || len(got) != 2 {
		t.Errorf("declassified code %v", got)
	}
}

func TestImplies(t *testing.T) {
	m := New(nil, nil)
	for _, tc := range []struct {
		p    flow.Payload
		want bool
	}{
		{flow.Payload{"lookup_secret_reveal": true}, true},
		{flow.Payload{"lookup_secret_regenerate": "true"}, true},
		{flow.Payload{"lookup_secret_confirm": true, "method": "password"}, true},
		{flow.Payload{"lookup_secret_disable": "1"}, true},
		{flow.Payload{"lookup_secret_disable": false}, false},
		{flow.Payload{"lookup_secret_reveal": "false"}, false},
		{flow.Payload{"lookup_secret_reveal": "yes please"}, false},
		{flow.Payload{"lookup_secret_reveal": 1}, false},
		{flow.Payload{"method": "lookup_secret"}, false},
		{flow.Payload{}, false},
	} {
		if got := m.Implies(tc.p); got != tc.want {
			t.Errorf("Implies(%v) = %v", tc.p, got)
		}
	}
}

func TestLoginNodes(t *testing.T) {
	with := &identity.Identity{Credentials: map[string]*identity.Credential{ID: {Type: ID, Config: json.RawMessage(`{"recovery_codes":[]}`)}}}
	without := &identity.Identity{Credentials: map[string]*identity.Credential{}}
	m := New(nil, nil)
	for _, tc := range []struct {
		aal  string
		i    *identity.Identity
		want int
	}{
		{identity.AAL2, with, 2}, {identity.AAL1, with, 0}, {"", with, 0}, {identity.AAL2, without, 0}, {identity.AAL2, nil, 0},
	} {
		f := loginFlow(tc.aal)
		if err := m.AddNodes(ctx, f, flow.NodeContext{Identity: tc.i}); err != nil {
			t.Fatal(err)
		}
		if len(f.UI.Nodes) != tc.want {
			t.Errorf("aal %q, identity %v: nodes %v", tc.aal, tc.i, names(f))
		}
	}
	f := loginFlow(identity.AAL2)
	_ = m.AddNodes(ctx, f, flow.NodeContext{Identity: with})
	code, submit := f.UI.Nodes[0], f.UI.Nodes[1]
	if code.Group != "lookup_secret" || code.Attributes.Name != "lookup_secret" || code.Attributes.Type != "text" ||
		!code.Attributes.Required || code.Attributes.Value != "" || code.Meta.Label.ID != 1010007 {
		t.Errorf("code node %+v", code.Attributes)
	}
	if submit.Attributes.Name != "method" || submit.Attributes.Value != "lookup_secret" || submit.Meta.Label.ID != 1010010 {
		t.Errorf("submit node %+v", submit.Attributes)
	}
}

// setUp gives i backup codes through settings, as a user would, and
// answers them.
func (f *fixture) setUp(t *testing.T, i *identity.Identity) []string {
	t.Helper()
	fl := settingsFlow()
	out, err := f.m.Submit(ctx, &flow.Submission{Flow: fl, Payload: flow.Payload{"lookup_secret_regenerate": true}, Identity: i, Privileged: true})
	if err != nil || !out.Shown {
		t.Fatalf("regenerate: %+v, %v", out, err)
	}
	codes := shownCodes(t, fl)
	out, err = f.m.Submit(ctx, &flow.Submission{Flow: fl, Payload: flow.Payload{"lookup_secret_confirm": true}, Identity: i, Privileged: true})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if _, err := f.commit(out); err != nil {
		t.Fatalf("confirm's commit: %v", err)
	}
	return codes
}

// shownCodes reads the codes from the flow's text node.
func shownCodes(t *testing.T, f *flow.Flow) []string {
	t.Helper()
	for _, n := range f.UI.Nodes {
		if n.Attributes.NodeType == flow.NodeText && n.Attributes.ID == "lookup_secret_codes" {
			return strings.Split(n.Attributes.Text.Text, ", ")
		}
	}
	t.Fatalf("no codes node in %v", names(f))
	return nil
}

func TestSettings(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.user(t, "settings@example.org")
		submit := func(fl *flow.Flow, i *identity.Identity, p flow.Payload) (*flow.Outcome, error) {
			return f.m.Submit(ctx, &flow.Submission{Flow: fl, Payload: p, Identity: i, Privileged: true})
		}

		fl := settingsFlow()
		_ = f.m.AddNodes(ctx, fl, flow.NodeContext{Identity: i})
		if got := names(fl); strings.Join(got, ",") != "lookup_secret_regenerate" {
			t.Errorf("nodes without codes: %v", got)
		}

		// Nothing to reveal or confirm yet.
		if _, err := submit(fl, i, flow.Payload{"lookup_secret_reveal": true}); formMessage(t, err).ID != 4000001 {
			t.Errorf("reveal without codes: %v", err)
		}
		if _, err := submit(fl, i, flow.Payload{"lookup_secret_confirm": true}); formMessage(t, err).ID != 4000001 {
			t.Errorf("confirm without regenerate: %v", err)
		}
		// Every action needs a recent sign-in.
		for _, action := range []string{"lookup_secret_reveal", "lookup_secret_regenerate", "lookup_secret_confirm", "lookup_secret_disable"} {
			_, err := f.m.Submit(ctx, &flow.Submission{Flow: fl, Payload: flow.Payload{action: true}, Identity: i})
			if !errors.Is(err, flow.ErrPrivilegedSessionRequired) {
				t.Errorf("%s without a recent sign-in: %v", action, err)
			}
		}

		out, err := submit(fl, i, flow.Payload{"lookup_secret_regenerate": "true"})
		if err != nil || !out.Shown || out.Commit != nil {
			t.Fatalf("regenerate: %+v, %v", out, err)
		}
		if got := strings.Join(names(fl), ","); got != "text:lookup_secret_codes,lookup_secret_confirm" {
			t.Errorf("nodes after regenerate: %v", got)
		}
		pendingCodes := shownCodes(t, fl)
		if len(pendingCodes) != setSize {
			t.Fatalf("shown %v", pendingCodes)
		}
		for _, c := range pendingCodes {
			if strings.Contains(string(fl.Internal[internalKey]), c) {
				t.Fatalf("the flow keeps code %s in the clear: %s", c, fl.Internal[internalKey])
			}
		}
		list := fl.UI.Nodes[0]
		if list.Meta.Label.ID != 1050010 || list.Attributes.Text.ID != 1050015 || list.Group != "lookup_secret" {
			t.Errorf("codes node %+v", list)
		}
		secrets := list.Attributes.Text.Context["secrets"].([]*text.Message)
		if len(secrets) != setSize || secrets[0].ID != 1050009 || secrets[0].Context["secret"] != pendingCodes[0] {
			t.Errorf("codes context %+v", secrets)
		}
		// Not stored before confirm.
		if credential(f.reload(t, i)) != nil {
			t.Fatal("regenerate stored the codes")
		}

		out, err = submit(fl, i, flow.Payload{"lookup_secret_confirm": true})
		if err != nil || out.Shown || out.AAL != identity.AAL2 || out.Commit == nil {
			t.Fatalf("confirm: %+v, %v", out, err)
		}
		if _, ok := fl.Internal[internalKey]; ok {
			t.Error("confirm left the pending codes in the flow")
		}
		written, err := f.commit(out)
		if err != nil {
			t.Fatal(err)
		}
		stored := f.reload(t, i)
		c := credential(stored)
		if c == nil || strings.Join(c.Identifiers, ",") != i.ID.String() || credential(written) == nil {
			t.Fatalf("stored %+v, answered %+v", c, written)
		}
		if !written.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Errorf("answered updated_at %v, stored %v", written.UpdatedAt, stored.UpdatedAt)
		}
		for _, code := range pendingCodes {
			if strings.Contains(string(c.Config), code) {
				t.Fatalf("code %s stored in the clear", code)
			}
		}
		if (identity.FactorRules{}).AvailableAAL(stored) != identity.AAL2 {
			t.Error("the stored codes do not count as a second factor")
		}

		// A new flow offers reveal and disable; reveal shows the codes.
		fl = settingsFlow()
		_ = f.m.AddNodes(ctx, fl, flow.NodeContext{Identity: stored})
		if got := strings.Join(names(fl), ","); got != "lookup_secret_reveal,lookup_secret_disable" {
			t.Errorf("nodes with codes: %v", got)
		}
		if _, err := submit(fl, stored, flow.Payload{"lookup_secret_confirm": true}); formMessage(t, err).ID != 4000001 {
			t.Errorf("confirm in a flow that made no codes: %v", err)
		}
		out, err = submit(fl, stored, flow.Payload{"lookup_secret_reveal": true})
		if err != nil || !out.Shown {
			t.Fatalf("reveal: %+v, %v", out, err)
		}
		if got := strings.Join(names(fl), ","); got != "text:lookup_secret_codes,lookup_secret_disable,lookup_secret_regenerate" {
			t.Errorf("nodes after reveal: %v", got)
		}
		if got := shownCodes(t, fl); strings.Join(got, ",") != strings.Join(pendingCodes, ",") {
			t.Errorf("revealed %v, confirmed %v", got, pendingCodes)
		}

		// Disable wins over regenerate and removes the codes.
		out, err = submit(fl, stored, flow.Payload{"lookup_secret_disable": true, "lookup_secret_regenerate": true})
		if err != nil || out.Shown || out.AAL != "" {
			t.Fatalf("disable: %+v, %v", out, err)
		}
		if written, err = f.commit(out); err != nil || credential(written) != nil {
			t.Fatalf("disable's commit: %v, %v", written, err)
		}
		if after := f.reload(t, i); credential(after) != nil || after.Credentials["password"] == nil ||
			(identity.FactorRules{}).AvailableAAL(after) != identity.AAL1 {
			t.Errorf("after disable: %+v", after.Credentials)
		}
	})
}

func TestLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.user(t, "login@example.org")
		login := func(i *identity.Identity, p flow.Payload) (*flow.Outcome, error) {
			return f.m.Submit(ctx, &flow.Submission{Flow: loginFlow(identity.AAL2), Payload: p, Identity: i})
		}
		code := func(c string) flow.Payload { return flow.Payload{"method": "lookup_secret", "lookup_secret": c} }

		if _, err := login(i, code("abcd1234")); formMessage(t, err).ID != 4000014 {
			t.Errorf("without codes: %v", err)
		}
		codes := f.setUp(t, i)
		i = f.reload(t, i)

		if _, err := login(i, code("abcd1234")); formMessage(t, err).ID != 4000016 {
			t.Errorf("a wrong code: %v", err)
		}
		var fe flow.FormError
		if _, err := login(i, code("")); !errors.As(err, &fe) || fe[0].Field != "lookup_secret" || fe[0].Message.ID != 4000002 {
			t.Errorf("no code: %v", err)
		}
		_, err := f.m.Submit(ctx, &flow.Submission{Flow: loginFlow(identity.AAL1), Payload: code(codes[0]), Identity: i})
		if formMessage(t, err).ID != 4010002 {
			t.Errorf("at aal1: %v", err)
		}

		out, err := login(i, code(codes[4]))
		if err != nil || out.AAL != identity.AAL2 || out.Identity.ID != i.ID || out.Commit == nil {
			t.Fatalf("a right code: %+v, %v", out, err)
		}
		if _, err := f.commit(out); err != nil {
			t.Fatal(err)
		}
		after := f.reload(t, i)
		if !after.UpdatedAt.After(i.UpdatedAt) {
			t.Error("spending a code did not move the identity's updated_at")
		}
		cfg, _ := decode(credential(after).Config)
		for k, rc := range cfg.RecoveryCodes {
			if used := rc.UsedAt != nil; used != (k == 4) {
				t.Errorf("code %d used_at %v", k, rc.UsedAt)
			}
		}
		if u := cfg.RecoveryCodes[4].UsedAt; u.Location().String() != "UTC" || u.Nanosecond() != 0 {
			t.Errorf("used_at %v, want UTC seconds", u)
		}

		// Spent: refused whether the session knows it yet (i) or not.
		if _, err := login(after, code(codes[4])); formMessage(t, err).ID != 4000012 {
			t.Errorf("a used code: %v", err)
		}
		if _, err := f.commit(out); formMessage(t, err).ID != 4000012 {
			t.Errorf("the same code committed again: %v", err)
		}
		// The other codes still work.
		out, err = login(after, code(codes[5]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.commit(out); err != nil {
			t.Fatal(err)
		}

		// Reveal shows the spent codes as used.
		fl := settingsFlow()
		after = f.reload(t, i)
		if _, err := f.m.Submit(ctx, &flow.Submission{Flow: fl, Payload: flow.Payload{"lookup_secret_reveal": true}, Identity: after, Privileged: true}); err != nil {
			t.Fatal(err)
		}
		shown := shownCodes(t, fl)
		if shown[4] != "used" || shown[5] != "used" || shown[6] != codes[6] {
			t.Errorf("revealed %v", shown)
		}
		secrets := fl.UI.Nodes[0].Attributes.Text.Context["secrets"].([]*text.Message)
		if secrets[4].ID != 1050014 || secrets[4].Context["used_at_unix"] == nil || secrets[6].ID != 1050009 {
			t.Errorf("revealed context %+v %+v", secrets[4], secrets[6])
		}

		// Codes disabled between the check and the commit.
		out, err = login(after, code(codes[7]))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, func(q *store.Q) error { return f.ids.DeleteCredential(ctx, q, i.ID, ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.commit(out); formMessage(t, err).ID != 4000014 {
			t.Errorf("commit after disable: %v", err)
		}
	})
}

// TestRacingSpends spends one code from many transactions at once: exactly
// one succeeds, the others are told the code was used.
func TestRacingSpends(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.user(t, "race@example.org")
		codes := f.setUp(t, i)
		i = f.reload(t, i)

		const racers = 10
		outs := make([]*flow.Outcome, racers)
		for k := range outs {
			out, err := f.m.Submit(ctx, &flow.Submission{Flow: loginFlow(identity.AAL2), Identity: i,
				Payload: flow.Payload{"method": "lookup_secret", "lookup_secret": codes[0]}})
			if err != nil {
				t.Fatal(err)
			}
			outs[k] = out
		}
		errs := make([]error, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range outs {
			wg.Go(func() {
				<-start
				_, errs[k] = f.commit(outs[k])
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case formMessage(t, err).ID != 4000012:
				t.Errorf("a losing racer: %v", err)
			}
		}
		if won != 1 {
			t.Errorf("%d racers spent the code; want 1 (errors: %v)", won, errs)
		}
	})
}

// The method's nodes change in place: the other methods' nodes around
// them keep their order.
func TestReplaceNodesKeepsPlace(t *testing.T) {
	fl := settingsFlow()
	fl.UI.Add(flow.Input(flow.GroupDefault, "csrf_token", "hidden", "x", nil))
	settingsNodes(fl, nil)
	fl.UI.Add(flow.Submit("totp", "totp_unlink", "true", nil))
	replaceNodes(fl, button(nodeConfirm, text.LookupConfirm()), button(nodeDisable, text.LookupDisable()))
	if got := strings.Join(names(fl), ","); got != "csrf_token,lookup_secret_confirm,lookup_secret_disable,totp_unlink" {
		t.Errorf("nodes %s", got)
	}
	bare := settingsFlow()
	replaceNodes(bare, button(nodeConfirm, text.LookupConfirm()))
	if got := strings.Join(names(bare), ","); got != "lookup_secret_confirm" {
		t.Errorf("nodes %s", got)
	}
}
