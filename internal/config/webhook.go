package config

import "fmt"

// WebHook is the config of a web_hook hook: the request to make and what
// to do with the answer.
type WebHook struct {
	ID      string
	Request HTTPRequest
	// Ignore is response.ignore: the call runs in the background and its
	// answer does not matter.
	Ignore bool
	// Parse is response.parse (or the older can_interrupt): the answer may
	// stop the flow with messages, and in registration change the identity.
	Parse bool
	// EmitAnalyticsEvent (default true) marks each call with the
	// Ory-Webhook-Request-ID and Ory-Webhook-Trigger-ID headers and records
	// its outcome as events on the trace span.
	EmitAnalyticsEvent bool
}

// decodeWebHook reads the config of item i, a web_hook.
func decodeWebHook(i int, cfg map[string]any, d *decodeCtx) (*WebHook, error) {
	where := fmt.Sprintf("item %d: config: ", i)
	if cfg == nil {
		return nil, d.errorf("%sa web_hook needs a config with url, method and body", where)
	}
	wh := &WebHook{EmitAnalyticsEvent: true}
	request := map[string]any{}
	for k, v := range cfg {
		switch k {
		case "id":
			wh.ID, _ = v.(string)
		case "emit_analytics_event":
			b, ok := v.(bool)
			if !ok {
				return nil, d.errorf("%s\"emit_analytics_event\" must be true or false", where)
			}
			wh.EmitAnalyticsEvent = b
		case "can_interrupt":
			b, ok := v.(bool)
			if !ok {
				return nil, d.errorf("%s\"can_interrupt\" must be true or false", where)
			}
			wh.Parse = wh.Parse || b
		case "response":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, d.errorf("%s\"response\" must be an object with \"ignore\" and \"parse\"", where)
			}
			for rk, rv := range m {
				b, ok := rv.(bool)
				switch {
				case rk != "ignore" && rk != "parse":
					d.warn(unsupportedWarning(fmt.Sprintf("%s[%d].config.response.%s", d.path, i, rk)))
				case !ok:
					return nil, d.errorf("%s\"response.%s\" must be true or false", where, rk)
				case rk == "ignore":
					wh.Ignore = b
				default:
					wh.Parse = wh.Parse || b
				}
			}
		default:
			request[k] = v
		}
	}
	var err error
	if wh.Request, err = decodeHTTPRequest(request, d, where); err != nil {
		return nil, err
	}
	if _, ok := request["method"]; !ok {
		return nil, d.errorf("%s\"method\" is required", where)
	}
	if wh.Ignore && wh.Parse {
		return nil, d.errorf("%s\"response.ignore\" cannot be combined with \"response.parse\" or \"can_interrupt\"", where)
	}
	return wh, nil
}
