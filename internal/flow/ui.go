package flow

import (
	"encoding/json"
	"fmt"

	"github.com/lanyard-id/lanyard/internal/text"
)

// Node groups, as UIs expect them.
const (
	GroupDefault  = "default"
	GroupPassword = "password"
	GroupProfile  = "profile"
)

// Container is the SDK's UiContainer: the form a UI renders for a flow.
type Container struct {
	Action   string          `json:"action"`
	Method   string          `json:"method"`
	Nodes    []*Node         `json:"nodes"`
	Messages []*text.Message `json:"messages,omitempty"`
}

// Node types: a node's Type, repeated in its attributes' node_type.
const (
	NodeInput  = "input"
	NodeImage  = "img"
	NodeAnchor = "a"
	NodeText   = "text"
	NodeScript = "script"
	NodeDiv    = "div"
)

// Node is the SDK's UiNode.
type Node struct {
	Type       string          `json:"type"`
	Group      string          `json:"group"`
	Attributes *Attrs          `json:"attributes"`
	Messages   []*text.Message `json:"messages"`
	Meta       Meta            `json:"meta"`
}

// Meta carries a node's label.
type Meta struct {
	Label *text.Message `json:"label,omitempty"`
}

// Attrs holds the attributes of a node of any type. NodeType decides which
// fields belong to it; its JSON carries exactly those, in the shape of the
// SDK's UiNode{Input,Image,Anchor,Text,Script,Division}Attributes. One
// struct for all types keeps n.Attributes.Name and the like working
// wherever nodes are handled, and a stored flow reads back every type.
type Attrs struct {
	NodeType string

	// input
	Name         string
	Type         string // also a script's MIME type
	Value        any
	Required     bool
	Autocomplete string
	Pattern      string
	Maxlength    int
	Disabled     bool
	Label        *text.Message
	// OnclickTrigger and OnloadTrigger name functions of Kratos's
	// webauthn.js (oryWebAuthnLogin, ...); Onclick and Onload are their
	// deprecated raw-JavaScript forms, still read by older UIs.
	Onclick        string
	OnclickTrigger string
	Onload         string
	OnloadTrigger  string

	// every type but input
	ID string

	// img and script
	Src string
	// img
	Width, Height int

	// a
	Href  string
	Title *text.Message

	// text
	Text *text.Message

	// script
	Async          bool
	ReferrerPolicy string
	CrossOrigin    string
	Integrity      string
	Nonce          string

	// div
	Class string
	Data  map[string]string
}

// InputAttrs is Attrs's name from when nodes were inputs only.
type InputAttrs = Attrs

// The wire shapes, one per node type, with Kratos's field names.
type (
	inputJSON struct {
		Name           string        `json:"name"`
		Type           string        `json:"type"`
		Value          any           `json:"value,omitempty"`
		Required       bool          `json:"required,omitempty"`
		Autocomplete   string        `json:"autocomplete,omitempty"`
		Label          *text.Message `json:"label,omitempty"`
		Pattern        string        `json:"pattern,omitempty"`
		Maxlength      int           `json:"maxlength,omitempty"`
		Disabled       bool          `json:"disabled"`
		Onclick        string        `json:"onclick,omitempty"`
		OnclickTrigger string        `json:"onclickTrigger,omitempty"`
		Onload         string        `json:"onload,omitempty"`
		OnloadTrigger  string        `json:"onloadTrigger,omitempty"`
		NodeType       string        `json:"node_type"`
	}
	imageJSON struct {
		Src      string `json:"src"`
		ID       string `json:"id"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
		NodeType string `json:"node_type"`
	}
	anchorJSON struct {
		Href     string        `json:"href"`
		ID       string        `json:"id"`
		Title    *text.Message `json:"title"`
		NodeType string        `json:"node_type"`
	}
	textJSON struct {
		Text     *text.Message `json:"text"`
		ID       string        `json:"id"`
		NodeType string        `json:"node_type"`
	}
	scriptJSON struct {
		Src            string `json:"src"`
		Async          bool   `json:"async"`
		ReferrerPolicy string `json:"referrerpolicy"`
		CrossOrigin    string `json:"crossorigin"`
		Integrity      string `json:"integrity"`
		Type           string `json:"type"`
		ID             string `json:"id"`
		Nonce          string `json:"nonce"`
		NodeType       string `json:"node_type"`
	}
	divJSON struct {
		Class    string            `json:"class,omitempty"`
		ID       string            `json:"id"`
		Data     map[string]string `json:"data,omitempty"`
		NodeType string            `json:"node_type"`
	}
)

// isInput counts attributes without a node type as an input's, the only
// kind there once was.
func (a *Attrs) isInput() bool { return a.NodeType == NodeInput || a.NodeType == "" }

// MarshalJSON writes the fields of a's node type.
func (a Attrs) MarshalJSON() ([]byte, error) {
	switch a.NodeType {
	case NodeInput, "":
		return json.Marshal(inputJSON{
			Name: a.Name, Type: a.Type, Value: a.Value, Required: a.Required, Autocomplete: a.Autocomplete,
			Label: a.Label, Pattern: a.Pattern, Maxlength: a.Maxlength, Disabled: a.Disabled,
			Onclick: a.Onclick, OnclickTrigger: a.OnclickTrigger, Onload: a.Onload, OnloadTrigger: a.OnloadTrigger,
			NodeType: NodeInput,
		})
	case NodeImage:
		return json.Marshal(imageJSON{Src: a.Src, ID: a.ID, Width: a.Width, Height: a.Height, NodeType: a.NodeType})
	case NodeAnchor:
		return json.Marshal(anchorJSON{Href: a.Href, ID: a.ID, Title: a.Title, NodeType: a.NodeType})
	case NodeText:
		return json.Marshal(textJSON{Text: a.Text, ID: a.ID, NodeType: a.NodeType})
	case NodeScript:
		return json.Marshal(scriptJSON{
			Src: a.Src, Async: a.Async, ReferrerPolicy: a.ReferrerPolicy, CrossOrigin: a.CrossOrigin,
			Integrity: a.Integrity, Type: a.Type, ID: a.ID, Nonce: a.Nonce, NodeType: a.NodeType,
		})
	case NodeDiv:
		return json.Marshal(divJSON{Class: a.Class, ID: a.ID, Data: a.Data, NodeType: a.NodeType})
	}
	return nil, fmt.Errorf("flow: unknown node type %q", a.NodeType)
}

// UnmarshalJSON reads what MarshalJSON wrote (flows are stored as JSON).
func (a *Attrs) UnmarshalJSON(b []byte) error {
	var probe struct {
		NodeType string `json:"node_type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	switch probe.NodeType {
	case NodeInput, "":
		var x inputJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{
			NodeType: NodeInput, Name: x.Name, Type: x.Type, Value: x.Value, Required: x.Required,
			Autocomplete: x.Autocomplete, Label: x.Label, Pattern: x.Pattern, Maxlength: x.Maxlength, Disabled: x.Disabled,
			Onclick: x.Onclick, OnclickTrigger: x.OnclickTrigger, Onload: x.Onload, OnloadTrigger: x.OnloadTrigger,
		}
	case NodeImage:
		var x imageJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{NodeType: x.NodeType, Src: x.Src, ID: x.ID, Width: x.Width, Height: x.Height}
	case NodeAnchor:
		var x anchorJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{NodeType: x.NodeType, Href: x.Href, ID: x.ID, Title: x.Title}
	case NodeText:
		var x textJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{NodeType: x.NodeType, Text: x.Text, ID: x.ID}
	case NodeScript:
		var x scriptJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{
			NodeType: x.NodeType, Src: x.Src, Async: x.Async, ReferrerPolicy: x.ReferrerPolicy, CrossOrigin: x.CrossOrigin,
			Integrity: x.Integrity, Type: x.Type, ID: x.ID, Nonce: x.Nonce,
		}
	case NodeDiv:
		var x divJSON
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = Attrs{NodeType: x.NodeType, Class: x.Class, ID: x.ID, Data: x.Data}
	default:
		return fmt.Errorf("flow: unknown node type %q", probe.NodeType)
	}
	return nil
}

func newNode(typ, group string, a *Attrs, label *text.Message) *Node {
	a.NodeType = typ
	return &Node{Type: typ, Group: group, Attributes: a, Messages: []*text.Message{}, Meta: Meta{Label: label}}
}

// Input makes an input node.
func Input(group, name, typ string, value any, label *text.Message) *Node {
	return newNode(NodeInput, group, &Attrs{Name: name, Type: typ, Value: value}, label)
}

// Anchor makes a link node, such as the "continue" link of a completed
// verification flow.
func Anchor(group, id, href string, title *text.Message) *Node {
	return newNode(NodeAnchor, group, &Attrs{Href: href, ID: id, Title: title}, title)
}

// Image makes an image node, such as the QR code of a TOTP secret (src is
// then a data: URL).
func Image(group, id, src string, width, height int, label *text.Message) *Node {
	return newNode(NodeImage, group, &Attrs{Src: src, ID: id, Width: width, Height: height}, label)
}

// Text makes a node that shows t, such as a TOTP secret or backup codes
// (carried in t's context).
func Text(group, id string, t *text.Message, label *text.Message) *Node {
	return newNode(NodeText, group, &Attrs{Text: t, ID: id}, label)
}

// ScriptOptions are a script node's loading attributes, as the <script>
// element takes them.
type ScriptOptions struct {
	Async          bool
	ReferrerPolicy string
	CrossOrigin    string
	Integrity      string
	Type           string
	Nonce          string
}

// Script makes a node that loads the script at src (WebAuthn's loader).
func Script(group, id, src string, o ScriptOptions) *Node {
	return newNode(NodeScript, group, &Attrs{
		Src: src, ID: id, Async: o.Async, ReferrerPolicy: o.ReferrerPolicy, CrossOrigin: o.CrossOrigin,
		Integrity: o.Integrity, Type: o.Type, Nonce: o.Nonce,
	}, nil)
}

// Div makes a division node; data becomes its data-* attributes (e.g.
// the options a passkey script reads).
func Div(group, id, class string, data map[string]string) *Node {
	return newNode(NodeDiv, group, &Attrs{Class: class, ID: id, Data: data}, nil)
}

// Required marks the input required.
func (n *Node) Required() *Node { n.Attributes.Required = true; return n }

// Autocomplete sets the autocomplete hint.
func (n *Node) Autocomplete(a string) *Node { n.Attributes.Autocomplete = a; return n }

// Submit makes a submit button named name with value.
func Submit(group, name, value string, label *text.Message) *Node {
	return Input(group, name, "submit", value, label)
}

// Find returns the first input node named name, or nil.
func (c *Container) Find(name string) *Node {
	for _, n := range c.Nodes {
		if n.Attributes != nil && n.Attributes.isInput() && n.Attributes.Name == name {
			return n
		}
	}
	return nil
}

// Add appends nodes.
func (c *Container) Add(nodes ...*Node) { c.Nodes = append(c.Nodes, nodes...) }

// SetValue sets the value of the input node named name, if present.
func (c *Container) SetValue(name string, v any) {
	if n := c.Find(name); n != nil {
		n.Attributes.Value = v
	}
}

// AddMessage adds a message to the node named field, or to the form when
// there is no such node.
func (c *Container) AddMessage(field string, m *text.Message) {
	if n := c.Find(field); field != "" && n != nil {
		n.Messages = append(n.Messages, m)
		return
	}
	c.Messages = append(c.Messages, m)
}

// ResetMessages removes the messages of an earlier attempt.
func (c *Container) ResetMessages() {
	c.Messages = nil
	for _, n := range c.Nodes {
		n.Messages = []*text.Message{}
	}
}

// Clone deep-copies the container.
func (c *Container) Clone() *Container {
	raw, _ := json.Marshal(c)
	var out Container
	_ = json.Unmarshal(raw, &out)
	return &out
}
