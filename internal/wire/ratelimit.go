package wire

import "net/http"

// TooManyRequests answers a client over its rate limit. Like Ory's other
// generic errors (herodot's defaults) it carries no error id.
var TooManyRequests = newError(http.StatusTooManyRequests, "The rate limit was exceeded: too many requests were sent in too short a time.")
