package flow

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

func msg(id int, s string, ctx map[string]any) *text.Message {
	return &text.Message{ID: id, Text: s, Type: text.Info, Context: ctx}
}

// everyNodeType is one node of each type with every attribute set.
func everyNodeType() []*Node {
	code := Input("totp", "totp_code", "text", "123456", msg(1070006, "Verify code", nil)).Required().Autocomplete("one-time-code")
	code.Attributes.Pattern, code.Attributes.Maxlength = "[0-9]+", 6
	code.Attributes.OnclickTrigger = "oryWebAuthnLogin"
	return []*Node{
		code,
		Image("totp", "totp_qr", "data:image/png;base64,iVBORw0KGgo=", 256, 256, msg(1050005, "Authenticator app QR code", nil)),
		Anchor("code", "continue", "https://app.example.com/", text.LabelContinue()),
		Text("totp", "totp_secret_key", msg(1050006, "JBSWY3DPEHPK3PXP", map[string]any{"secret": "JBSWY3DPEHPK3PXP"}), msg(1050017, "This is your authenticator app secret.", nil)),
		Script("webauthn", "webauthn_script", "https://auth.example.com/.well-known/ory/webauthn.js", ScriptOptions{
			Async: true, ReferrerPolicy: "no-referrer", CrossOrigin: "anonymous", Integrity: "sha512-abc", Type: "text/javascript", Nonce: "n0nce",
		}),
		Div("passkey", "passkey-settings", "hidden", map[string]string{"options": `{"publicKey":{}}`}),
	}
}

// sdkNode decodes n's JSON with the official SDK, failing on any
// attribute the SDK's model does not know.
func sdkNode(t *testing.T, n *Node) (ory.UiNode, string) {
	t.Helper()
	raw, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var out ory.UiNode
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("the SDK cannot decode %s: %v", raw, err)
	}
	if out.Type != n.Type || out.Group != n.Group || len(out.AdditionalProperties) > 0 {
		t.Errorf("node %s: type %q group %q extra %v", raw, out.Type, out.Group, out.AdditionalProperties)
	}
	return out, string(raw)
}

func noExtra(t *testing.T, raw string, extra map[string]any) {
	t.Helper()
	if len(extra) > 0 {
		t.Errorf("attributes the SDK does not know in %s: %v", raw, extra)
	}
}

func TestNodeTypesDecodeWithTheSDK(t *testing.T) {
	nodes := everyNodeType()

	in, raw := sdkNode(t, nodes[0])
	if a := in.Attributes.UiNodeInputAttributes; a == nil {
		t.Errorf("input decoded as %+v", in.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		if a.NodeType != "input" || a.Name != "totp_code" || a.Type != "text" || a.Value != "123456" || !a.GetRequired() ||
			a.GetAutocomplete() != "one-time-code" || a.GetPattern() != "[0-9]+" || a.GetMaxlength() != 6 || a.Disabled ||
			a.GetOnclickTrigger() != "oryWebAuthnLogin" || a.Label != nil {
			t.Errorf("input attributes %s", raw)
		}
	}
	if in.Meta.Label == nil || in.Meta.Label.Id != 1070006 {
		t.Errorf("input label %s", raw)
	}

	img, raw := sdkNode(t, nodes[1])
	if a := img.Attributes.UiNodeImageAttributes; a == nil {
		t.Errorf("img decoded as %+v", img.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		if a.NodeType != "img" || a.Id != "totp_qr" || a.Src != "data:image/png;base64,iVBORw0KGgo=" || a.Width != 256 || a.Height != 256 {
			t.Errorf("img attributes %s", raw)
		}
	}
	if img.Meta.Label == nil || img.Meta.Label.Id != 1050005 {
		t.Errorf("img label %s", raw)
	}

	anchor, raw := sdkNode(t, nodes[2])
	if a := anchor.Attributes.UiNodeAnchorAttributes; a == nil {
		t.Errorf("a decoded as %+v", anchor.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		if a.NodeType != "a" || a.Id != "continue" || a.Href != "https://app.example.com/" || a.Title.Id != 1070009 || a.Title.Text != "Continue" {
			t.Errorf("a attributes %s", raw)
		}
	}

	txt, raw := sdkNode(t, nodes[3])
	if a := txt.Attributes.UiNodeTextAttributes; a == nil {
		t.Errorf("text decoded as %+v", txt.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		if a.NodeType != "text" || a.Id != "totp_secret_key" || a.Text.Id != 1050006 || a.Text.Text != "JBSWY3DPEHPK3PXP" ||
			a.Text.Type != "info" || a.Text.Context["secret"] != "JBSWY3DPEHPK3PXP" {
			t.Errorf("text attributes %s", raw)
		}
	}
	if txt.Meta.Label == nil || txt.Meta.Label.Id != 1050017 {
		t.Errorf("text label %s", raw)
	}

	script, raw := sdkNode(t, nodes[4])
	if a := script.Attributes.UiNodeScriptAttributes; a == nil {
		t.Errorf("script decoded as %+v", script.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		want := ory.UiNodeScriptAttributes{
			Async: true, Crossorigin: "anonymous", Id: "webauthn_script", Integrity: "sha512-abc", NodeType: "script", Nonce: "n0nce",
			Referrerpolicy: "no-referrer", Src: "https://auth.example.com/.well-known/ory/webauthn.js", Type: "text/javascript",
		}
		a.AdditionalProperties = nil
		if !reflect.DeepEqual(*a, want) {
			t.Errorf("script attributes %+v; want %+v", *a, want)
		}
	}
	if script.Meta.Label != nil || !strings.Contains(raw, `"meta":{}`) || !strings.Contains(raw, `"messages":[]`) {
		t.Errorf("script node %s; want empty meta and messages", raw)
	}

	div, raw := sdkNode(t, nodes[5])
	if a := div.Attributes.UiNodeDivisionAttributes; a == nil {
		t.Errorf("div decoded as %+v", div.Attributes.GetActualInstance())
	} else {
		noExtra(t, raw, a.AdditionalProperties)
		if a.NodeType != "div" || a.Id != "passkey-settings" || a.GetClass() != "hidden" || a.GetData()["options"] != `{"publicKey":{}}` {
			t.Errorf("div attributes %s", raw)
		}
	}

	// Fields of other types never leak into a node's attributes.
	for _, n := range nodes {
		raw, _ := json.Marshal(n.Attributes)
		var keys map[string]any
		_ = json.Unmarshal(raw, &keys)
		if keys["node_type"] != n.Type {
			t.Errorf("%s: node_type %v; want %s", raw, keys["node_type"], n.Type)
		}
		if n.Type != NodeInput {
			for _, k := range []string{"name", "value", "required", "disabled"} {
				if _, ok := keys[k]; ok {
					t.Errorf("%s node has input field %q: %s", n.Type, k, raw)
				}
			}
		}
	}
}

// TestDivOmitsEmptyFields: class and data are optional, as in Kratos.
func TestDivOmitsEmptyFields(t *testing.T) {
	raw, _ := json.Marshal(Div("default", "d", "", nil).Attributes)
	if string(raw) != `{"id":"d","node_type":"div"}` {
		t.Errorf("div = %s", raw)
	}
}

func TestEveryNodeTypeDecodesAsContainer(t *testing.T) {
	raw, err := json.Marshal(Container{Action: "https://auth.example.com/self-service/settings?flow=1", Method: "POST", Nodes: everyNodeType()})
	if err != nil {
		t.Fatal(err)
	}
	var c ory.UiContainer
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("the SDK cannot decode the container: %v", err)
	}
	got := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		switch {
		case n.Attributes.UiNodeInputAttributes != nil:
			got = append(got, "input")
		case n.Attributes.UiNodeImageAttributes != nil:
			got = append(got, "img")
		case n.Attributes.UiNodeAnchorAttributes != nil:
			got = append(got, "a")
		case n.Attributes.UiNodeTextAttributes != nil:
			got = append(got, "text")
		case n.Attributes.UiNodeScriptAttributes != nil:
			got = append(got, "script")
		case n.Attributes.UiNodeDivisionAttributes != nil:
			got = append(got, "div")
		}
	}
	if strings.Join(got, ",") != "input,img,a,text,script,div" {
		t.Errorf("decoded node variants %v", got)
	}
}

// TestNodesRoundTrip: flows are stored as JSON; every type reads back
// with every attribute.
func TestNodesRoundTrip(t *testing.T) {
	c := &Container{Action: "https://auth.example.com/x", Method: "POST", Nodes: everyNodeType()}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Container
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, *c) {
		for i := range c.Nodes {
			if !reflect.DeepEqual(back.Nodes[i], c.Nodes[i]) {
				t.Errorf("node %d after a round trip:\n%+v\nwant\n%+v", i, back.Nodes[i].Attributes, c.Nodes[i].Attributes)
			}
		}
	}
	again, _ := json.Marshal(back)
	if string(again) != string(raw) {
		t.Errorf("re-marshalled JSON differs:\n%s\n%s", again, raw)
	}
	if clone := c.Clone(); !reflect.DeepEqual(clone, c) {
		t.Error("Clone lost attributes")
	}
}

// TestEveryNodeTypeSurvivesTheStore saves a flow with every node type and
// reads it back, on both databases (PostgreSQL's jsonb reorders keys).
func TestEveryNodeTypeSurvivesTheStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		r := httptest.NewRequest("GET", "/self-service/settings/browser", nil)
		f := New(Settings, TypeBrowser, r, publicURL, time.Hour)
		f.UI.Add(everyNodeType()...)
		if err := s.Write(ctx, func(q *store.Q) error { return Save(ctx, q, f) }); err != nil {
			t.Fatal(err)
		}
		got, err := Get(ctx, s.Read(), Settings, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.UI.Nodes, f.UI.Nodes) {
			a, _ := json.Marshal(got.UI.Nodes)
			b, _ := json.Marshal(f.UI.Nodes)
			t.Errorf("nodes changed in storage:\n got %s\nwant %s", a, b)
		}
	})
}

func TestUnknownNodeTypeRefused(t *testing.T) {
	var a Attrs
	if err := json.Unmarshal([]byte(`{"node_type":"iframe","src":"x"}`), &a); err == nil {
		t.Error("an unknown node_type was read")
	}
	if _, err := json.Marshal(Attrs{NodeType: "iframe"}); err == nil {
		t.Error("an unknown node_type was written")
	}
	// Attributes without node_type are an input's.
	if err := json.Unmarshal([]byte(`{"name":"x","type":"text","disabled":false}`), &a); err != nil || a.NodeType != NodeInput || a.Name != "x" {
		t.Errorf("attributes without node_type = %+v, %v", a, err)
	}
}

func TestContainerHelpersIgnoreNonInputNodes(t *testing.T) {
	c := &Container{}
	c.Add(everyNodeType()[1:]...) // every type but input: none has a name
	for _, name := range []string{"", "totp_qr", "continue", "totp_secret_key", "webauthn_script", "passkey-settings"} {
		if n := c.Find(name); n != nil {
			t.Errorf("Find(%q) = the %s node", name, n.Type)
		}
	}
	before, _ := json.Marshal(c)
	c.SetValue("", "x")
	c.SetValue("totp_secret_key", "x")
	if after, _ := json.Marshal(c); string(after) != string(before) {
		t.Errorf("SetValue changed non-input nodes:\n%s\n%s", before, after)
	}
	c.AddMessage("totp_secret_key", text.InvalidCredentials())
	if len(c.Messages) != 1 {
		t.Errorf("a message for a non-input id went to a node, not the form")
	}
	for _, n := range c.Nodes {
		if len(n.Messages) != 0 {
			t.Errorf("%s node got a message", n.Type)
		}
	}

	// With an input of the same name as a text node's id, the input wins.
	c.Add(Input("totp", "totp_secret_key", "hidden", "", nil))
	c.SetValue("totp_secret_key", "v")
	if n := c.Find("totp_secret_key"); n == nil || n.Type != NodeInput || n.Attributes.Value != "v" {
		t.Errorf("Find after adding an input = %+v", n)
	}
	if txt := c.Nodes[2].Attributes; txt.NodeType != NodeText || txt.Value != nil {
		t.Errorf("text node touched: %+v", txt)
	}
}
