package ui

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/text"
)

// formView is a flow's UI container as the page renders it: one form
// posting to ui.action, the flow's messages above it, the nodes grouped
// by method, the default group first.
type formView struct {
	Action, Method string
	Messages       []messageView
	// Hidden are the hidden inputs of every group, at the top of the form.
	Hidden  []*nodeView
	Groups  []groupView
	Scripts []*nodeView
}

type groupView struct {
	Name, Title string
	Nodes       []*nodeView
}

type messageView struct {
	ID   string
	Type string // info, error or success
	Text string
	// Code is Kratos's numeric message id, kept for UIs' tests.
	Code int
}

// nodeView is one node; Kind picks its template.
type nodeView struct {
	Kind string // input, checkbox, submit, button, hidden, img, text, a, div, script
	ID   string
	Name string
	Type string
	// Value is the input's value (a checkbox's is "true"); Checked for
	// checkboxes.
	Value   string
	Checked bool
	Label   string
	// LabelCode is the label's message id, telling apart buttons that
	// submit the same value.
	LabelCode    int
	Required     bool
	Disabled     bool
	NoValidate   bool
	Autocomplete string
	Pattern      string
	Maxlength    int
	// Trigger and LoadTrigger name webauthn.js functions the page's
	// script calls on click and once webauthn.js has loaded.
	Trigger     string
	LoadTrigger string
	Messages    []messageView
	DescribedBy string
	Invalid     bool

	Src           any // string, or template.URL for an image's data: URI
	Href          string
	Width, Height int
	Text          string
	Codes         []string

	Integrity, CrossOrigin, ReferrerPolicy, ScriptType string
	Async                                              bool

	Class string
	Data  []template.HTMLAttr
}

// buildForm turns c into the view p renders.
func buildForm(p *page, c *flow.Container) *formView {
	fv := &formView{Action: c.Action, Method: c.Method, Messages: messages(p, "flow-msg", c.Messages)}
	if fv.Method == "" {
		fv.Method = "POST"
	}
	seen := map[string]bool{}
	byGroup := map[string]int{}
	requiredIn := map[string]bool{}
	for i, n := range c.Nodes {
		if n == nil || n.Attributes == nil {
			continue
		}
		v := buildNode(p, i, n, seen)
		switch v.Kind {
		case "hidden":
			// What is said about a hidden field (an identifier carried
			// from an earlier step) is said about the form.
			fv.Messages = append(fv.Messages, v.Messages...)
			fv.Hidden = append(fv.Hidden, v)
			continue
		case "script":
			fv.Scripts = append(fv.Scripts, v)
			continue
		}
		if v.Required && v.Kind != "submit" && v.Kind != "button" {
			requiredIn[n.Group] = true
		}
		g := n.Group
		if g == "" {
			g = flow.GroupDefault
		}
		at, ok := byGroup[g]
		if !ok {
			at = len(fv.Groups)
			byGroup[g] = at
			fv.Groups = append(fv.Groups, groupView{Name: g, Title: groupTitle(p, g)})
		}
		fv.Groups[at].Nodes = append(fv.Groups[at].Nodes, v)
	}
	// One form holds every method, as the flow's nodes expect (the
	// default group's identifier serves them all). A method's buttons skip
	// the browser's checks of fields another method requires; the server
	// checks what each method needs. A group of buttons that each carry
	// their own choice (a provider to sign in with, one to link) rather
	// than a method to run with the form's fields needs none of them.
	for _, g := range fv.Groups {
		others := false
		for name := range requiredIn {
			if name != g.Name && name != flow.GroupDefault {
				others = true
			}
		}
		choices := true
		for _, v := range g.Nodes {
			if v.Kind != "submit" || v.Name == "method" {
				choices = false
			}
		}
		for _, v := range g.Nodes {
			if v.Kind == "submit" && (others || choices) {
				v.NoValidate = true
			}
		}
	}
	defaultFirst(fv.Groups)
	return fv
}

func defaultFirst(gs []groupView) {
	for i, g := range gs {
		if g.Name == flow.GroupDefault && i > 0 {
			copy(gs[1:i+1], gs[:i])
			gs[0] = g
			return
		}
	}
}

func groupTitle(p *page, g string) string {
	key := "group." + g
	if t := p.T(key); t != key {
		return t
	}
	return g
}

var unsafeIDChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// buildNode makes the view of the i-th node. Nodes other than inputs keep
// their own id (scripts may look them up), unless another node has it;
// inputs, whose names repeat (the method buttons), get one from their
// position.
func buildNode(p *page, i int, n *flow.Node, seen map[string]bool) *nodeView {
	a := n.Attributes
	label := n.Meta.Label
	if label == nil && a.Label != nil {
		label = a.Label
	}
	id := ""
	if n.Type != flow.NodeInput && a.ID != "" && !unsafeIDChars.MatchString(a.ID) && !seen[a.ID] {
		id = a.ID
	} else {
		key := a.Name
		if key == "" {
			key = a.ID
		}
		id = fmt.Sprintf("n%d-%s", i, unsafeIDChars.ReplaceAllString(key, "_"))
	}
	seen[id] = true
	v := &nodeView{ID: id, Name: a.Name, Label: p.Msg(label)}
	if label != nil {
		v.LabelCode = label.ID
	}
	v.Messages = messages(p, v.ID+"-msg", n.Messages)
	var ids []string
	for _, m := range v.Messages {
		ids = append(ids, m.ID)
		if m.Type == text.Error {
			v.Invalid = true
		}
	}
	v.DescribedBy = strings.Join(ids, " ")

	switch n.Type {
	case flow.NodeImage:
		v.Kind, v.Src, v.Width, v.Height = "img", imageSrc(a.Src), a.Width, a.Height
	case flow.NodeAnchor:
		v.Kind, v.Href = "a", a.Href
		if t := p.Msg(a.Title); t != "" {
			v.Label = t
		}
	case flow.NodeText:
		v.Kind = "text"
		v.Text, v.Codes = textOf(p, a.Text)
	case flow.NodeScript:
		v.Kind, v.Src = "script", a.Src
		v.Integrity, v.CrossOrigin, v.ReferrerPolicy, v.ScriptType, v.Async = a.Integrity, a.CrossOrigin, a.ReferrerPolicy, a.Type, a.Async
	case flow.NodeDiv:
		v.Kind, v.Class = "div", a.Class
		v.Data = dataAttrs(a.Data)
	default:
		buildInput(v, a)
	}
	return v
}

func buildInput(v *nodeView, a *flow.Attrs) {
	v.Type, v.Required, v.Disabled = a.Type, a.Required, a.Disabled
	v.Autocomplete, v.Pattern, v.Maxlength = a.Autocomplete, a.Pattern, a.Maxlength
	v.Value = valueString(a.Value)
	v.Trigger, v.LoadTrigger = triggerName(a.OnclickTrigger), triggerName(a.OnloadTrigger)
	switch a.Type {
	case "hidden":
		v.Kind = "hidden"
	case "submit":
		v.Kind = "submit"
	case "button":
		v.Kind = "button"
	case "checkbox":
		v.Kind = "checkbox"
		v.Checked = a.Value == true || v.Value == "true"
		v.Value = "true"
	case "password":
		v.Kind, v.Value = "input", ""
	default:
		v.Kind = "input"
		if v.Type == "" {
			v.Type = "text"
		}
	}
}

// triggerName passes only the names of functions a script may define:
// the page calls window[name](), never evaluates code.
var triggerPattern = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

func triggerName(s string) string {
	if triggerPattern.MatchString(s) {
		return s
	}
	return ""
}

func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// imageSrc lets through the data: URIs of raster images (the TOTP QR
// code), which html/template would otherwise refuse as unsafe.
func imageSrc(src string) any {
	for _, prefix := range []string{"data:image/png;base64,", "data:image/jpeg;base64,", "data:image/gif;base64,", "data:image/webp;base64,"} {
		if strings.HasPrefix(src, prefix) && !strings.ContainsAny(src, "\"'<> ") {
			return template.URL(src)
		}
	}
	return src
}

// textOf is a text node's words, and the codes when it lists backup codes
// (context.secrets: one message per code).
func textOf(p *page, m *text.Message) (string, []string) {
	if m == nil {
		return "", nil
	}
	raw, ok := m.Context["secrets"]
	if !ok {
		return p.Msg(m), nil
	}
	var each []*text.Message
	b, _ := json.Marshal(raw)
	if json.Unmarshal(b, &each) != nil {
		return p.Msg(m), nil
	}
	codes := make([]string, 0, len(each))
	for _, c := range each {
		codes = append(codes, p.Msg(c))
	}
	return "", codes
}

var dataKey = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func dataAttrs(m map[string]string) []template.HTMLAttr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []template.HTMLAttr
	for _, k := range keys {
		lk := strings.ToLower(k)
		// on* keys are inert as data-on*, but read like handlers.
		if !dataKey.MatchString(lk) || strings.HasPrefix(lk, "on") {
			continue
		}
		// The key is checked and the value escaped, so the pair is safe.
		out = append(out, template.HTMLAttr(`data-`+lk+`="`+html.EscapeString(m[k])+`"`))
	}
	return out
}

func messages(p *page, prefix string, ms []*text.Message) []messageView {
	out := make([]messageView, 0, len(ms))
	for j, m := range ms {
		if m == nil {
			continue
		}
		typ := m.Type
		if typ != text.Error && typ != text.Success {
			typ = text.Info
		}
		out = append(out, messageView{ID: fmt.Sprintf("%s-%d", prefix, j), Type: typ, Text: p.Msg(m), Code: m.ID})
	}
	return out
}
