package hasher

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/lanyard-id/lanyard/internal/hasher")

// startSpan begins a "hash" or "verify" span. It names the algorithm only:
// never the password, the hash or its salt.
func startSpan(ctx context.Context, name, algorithm string) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("hash.algorithm", algorithm))
	}
	return ctx, span
}

// endSpan marks failures other than a wrong password, which is an answer,
// not an error.
func endSpan(span trace.Span, err error) {
	if err != nil && err != ErrMismatch && span.IsRecording() {
		span.SetStatus(codes.Error, "hash failed")
	}
	span.End()
}

// algorithmOf names the family of a parsed hash for spans.
func algorithmOf(v verifier) string {
	switch v := v.(type) {
	case *bcryptHash:
		return algBcrypt
	case *argon2Hash:
		if v.id {
			return "argon2id"
		}
		return "argon2i"
	case *pbkdf2Hash:
		return "pbkdf2"
	case *scryptHash:
		return "scrypt"
	case *firescryptHash:
		return "firescrypt"
	case *cryptHash:
		return "crypt"
	case *hmacHash:
		return "hmac"
	case *digestHash:
		return "digest"
	}
	return "unknown"
}
