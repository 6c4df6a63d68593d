package flow

import (
	"encoding/json"

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

// Node is the SDK's UiNode.
type Node struct {
	Type       string          `json:"type"`
	Group      string          `json:"group"`
	Attributes *InputAttrs     `json:"attributes"`
	Messages   []*text.Message `json:"messages"`
	Meta       Meta            `json:"meta"`
}

// Meta carries a node's label.
type Meta struct {
	Label *text.Message `json:"label,omitempty"`
}

// InputAttrs is the SDK's UiNodeInputAttributes, or, when NodeType is
// "a", its UiNodeAnchorAttributes (Href, ID, Title).
type InputAttrs struct {
	Name         string `json:"name"`
	Type         string `json:"type"`
	Value        any    `json:"value,omitempty"`
	Required     bool   `json:"required,omitempty"`
	Autocomplete string `json:"autocomplete,omitempty"`
	Pattern      string `json:"pattern,omitempty"`
	Maxlength    int    `json:"maxlength,omitempty"`
	Disabled     bool   `json:"disabled"`
	NodeType     string `json:"node_type"`

	Href  string        `json:"-"`
	ID    string        `json:"-"`
	Title *text.Message `json:"-"`
}

type anchorAttrs struct {
	Href     string        `json:"href"`
	ID       string        `json:"id"`
	Title    *text.Message `json:"title"`
	NodeType string        `json:"node_type"`
}

// inputAttrs has InputAttrs's fields without its JSON methods.
type inputAttrs InputAttrs

// MarshalJSON writes an anchor's attributes in the SDK's anchor shape.
func (a InputAttrs) MarshalJSON() ([]byte, error) {
	if a.NodeType == "a" {
		return json.Marshal(anchorAttrs{Href: a.Href, ID: a.ID, Title: a.Title, NodeType: a.NodeType})
	}
	return json.Marshal(inputAttrs(a))
}

// UnmarshalJSON reads what MarshalJSON wrote (flows are stored as JSON).
func (a *InputAttrs) UnmarshalJSON(b []byte) error {
	var probe struct {
		NodeType string `json:"node_type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	if probe.NodeType == "a" {
		var x anchorAttrs
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*a = InputAttrs{Href: x.Href, ID: x.ID, Title: x.Title, NodeType: x.NodeType}
		return nil
	}
	return json.Unmarshal(b, (*inputAttrs)(a))
}

// Anchor makes a link node, such as the "continue" link of a completed
// verification flow.
func Anchor(group, id, href string, title *text.Message) *Node {
	return &Node{
		Type:       "a",
		Group:      group,
		Attributes: &InputAttrs{Href: href, ID: id, Title: title, NodeType: "a"},
		Messages:   []*text.Message{},
		Meta:       Meta{Label: title},
	}
}

// Input makes an input node.
func Input(group, name, typ string, value any, label *text.Message) *Node {
	return &Node{
		Type:       "input",
		Group:      group,
		Attributes: &InputAttrs{Name: name, Type: typ, Value: value, NodeType: "input"},
		Messages:   []*text.Message{},
		Meta:       Meta{Label: label},
	}
}

// Required marks the input required.
func (n *Node) Required() *Node { n.Attributes.Required = true; return n }

// Autocomplete sets the autocomplete hint.
func (n *Node) Autocomplete(a string) *Node { n.Attributes.Autocomplete = a; return n }

// Submit makes a submit button named name with value.
func Submit(group, name, value string, label *text.Message) *Node {
	return Input(group, name, "submit", value, label)
}

// Find returns the first node named name, or nil.
func (c *Container) Find(name string) *Node {
	for _, n := range c.Nodes {
		if n.Attributes.Name == name {
			return n
		}
	}
	return nil
}

// Add appends nodes.
func (c *Container) Add(nodes ...*Node) { c.Nodes = append(c.Nodes, nodes...) }

// SetValue sets the value of the node named name, if present.
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
