package hasher

import (
	"context"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
)

// BenchmarkHash measures the production settings: bcrypt cost 12 (Kratos's
// default) and argon2id with Kratos's defaults (128 MiB, t=1, p=2×CPUs).
func BenchmarkHash(b *testing.B) {
	for name, cfg := range map[string]config.Hashers{
		"bcrypt-12":        {Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 12}},
		"argon2id-default": {Algorithm: "argon2"},
	} {
		b.Run(name, func(b *testing.B) {
			h := mustNew(b, cfg)
			ctx := context.Background()
			pw := []byte("correct horse battery staple")
			for b.Loop() {
				if _, err := h.Hash(ctx, pw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
