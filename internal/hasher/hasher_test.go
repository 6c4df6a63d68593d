package hasher

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/lanyard-id/lanyard/internal/config"
)

var (
	fastBcrypt = config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}}
	fastArgon2 = config.Hashers{Algorithm: "argon2", Argon2: config.Argon2{
		Memory: 64, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32,
	}}
)

// anyHasher verifies imports: which algorithm it hashes with does not
// matter to Compare.
var anyHasher, _ = New(fastBcrypt)

func mustNew(t testing.TB, cfg config.Hashers) *Hasher {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, cfg := range map[string]config.Hashers{"bcrypt": fastBcrypt, "argon2": fastArgon2} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := mustNew(t, cfg)
			for _, n := range []int{0, 1, 8, 72} {
				pw := bytes.Repeat([]byte("é"), n/2)
				pw = append(pw, bytes.Repeat([]byte("x"), n%2)...)
				enc, err := h.Hash(ctx, pw)
				if err != nil {
					t.Fatalf("Hash(%d bytes): %v", len(pw), err)
				}
				if !Recognised(enc) || h.NeedsRehash(enc) {
					t.Fatalf("own hash %q: Recognised=%v NeedsRehash=%v", enc, Recognised(enc), h.NeedsRehash(enc))
				}
				if err := h.Compare(ctx, pw, enc); err != nil {
					t.Fatalf("Compare(right): %v", err)
				}
				if err := h.Compare(ctx, append(pw, 'y'), enc); !errors.Is(err, ErrMismatch) {
					t.Fatalf("Compare(wrong) = %v", err)
				}
				again, _ := h.Hash(ctx, pw)
				if bytes.Equal(enc, again) {
					t.Fatal("two hashes of one password are equal: salt not random")
				}
			}
		})
	}
}

func TestHashFormats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := mustNew(t, fastBcrypt).Hash(ctx, []byte("pw"))
	if !strings.HasPrefix(string(b), "$2a$04$") || len(b) != 60 {
		t.Errorf("bcrypt hash %q", b)
	}
	a, _ := mustNew(t, fastArgon2).Hash(ctx, []byte("pw"))
	parts := strings.Split(string(a), "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=64,t=1,p=2" ||
		len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("argon2 hash %q", a)
	}
}

func TestPasswordLength(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bh := mustNew(t, fastBcrypt)
	ah := mustNew(t, fastArgon2)
	if bh.MaxPasswordBytes() != 72 || ah.MaxPasswordBytes() != 4096 {
		t.Fatalf("MaxPasswordBytes = %d, %d", bh.MaxPasswordBytes(), ah.MaxPasswordBytes())
	}
	if _, err := bh.Hash(ctx, make([]byte, 73)); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("bcrypt 73 bytes: %v", err)
	}
	if _, err := ah.Hash(ctx, make([]byte, 4097)); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("argon2 4097 bytes: %v", err)
	}
	long := bytes.Repeat([]byte("a"), 100)
	enc, err := ah.Hash(ctx, long)
	if err != nil || ah.Compare(ctx, long, enc) != nil {
		t.Fatalf("argon2 100 bytes: %v", err)
	}
	// A bcrypt hash of the first 72 bytes must not accept a longer password.
	b72, _ := bcrypt.GenerateFromPassword(long[:72], 4)
	if err := ah.Compare(ctx, long, b72); !errors.Is(err, ErrMismatch) {
		t.Errorf("bcrypt compare with 100 bytes = %v, want ErrMismatch", err)
	}
	if err := ah.Compare(ctx, make([]byte, 5000), enc); !errors.Is(err, ErrMismatch) {
		t.Errorf("5000-byte password = %v, want ErrMismatch", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	h, err := New(config.Hashers{})
	if err != nil || h.alg != "bcrypt" || h.cost != 12 {
		t.Fatalf("zero config: %+v, %v", h, err)
	}
	h, err = New(config.Hashers{Algorithm: "argon2"})
	if err != nil || h.argon2.memory != 128*1024 || h.argon2.time != 1 || h.argon2.threads == 0 ||
		h.argon2.saltLen != 16 || h.argon2.keyLen != 32 || !h.argon2.id {
		t.Fatalf("argon2 defaults: %+v, %v", h, err)
	}
	for _, bad := range []config.Hashers{
		{Algorithm: "md5"},
		{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 3}},
		{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 19}},
		{Algorithm: "argon2", Argon2: config.Argon2{Memory: 8, Parallelism: 2}},
		{Algorithm: "argon2", Argon2: config.Argon2{Memory: 5 << 20}},
		{Algorithm: "argon2", Argon2: config.Argon2{Iterations: 1000}},
		{Algorithm: "argon2", Argon2: config.Argon2{SaltLength: 4}},
		{Algorithm: "argon2", Argon2: config.Argon2{KeyLength: 8}},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bh := mustNew(t, fastBcrypt)
	ah := mustNew(t, fastArgon2)
	own := func(h *Hasher) []byte {
		enc, err := h.Hash(ctx, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	bcryptHash, argonHash := own(bh), own(ah)
	bcrypt5, _ := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	salt := []byte("0123456789abcdef")
	argonWith := func(id bool, m, tm uint32, p uint8, salt []byte, keyLen uint32) []byte {
		params := argon2Params{id: id, memory: m, time: tm, threads: p}
		return params.encode(salt, params.derive([]byte("pw"), salt, keyLen))
	}
	cases := []struct {
		name string
		h    *Hasher
		hash []byte
		want bool
	}{
		{"bcrypt own", bh, bcryptHash, false},
		{"bcrypt 2b same cost", bh, []byte("$2b$" + string(bcryptHash[4:])), false},
		{"bcrypt other cost", bh, bcrypt5, true},
		{"bcrypt config, argon2 hash", bh, argonHash, true},
		{"argon2 own", ah, argonHash, false},
		{"argon2 config, bcrypt hash", ah, bcryptHash, true},
		{"argon2 same params", ah, argonWith(true, 64, 1, 2, salt, 32), false},
		{"argon2i", ah, argonWith(false, 64, 1, 2, salt, 32), true},
		{"argon2 memory", ah, argonWith(true, 128, 1, 2, salt, 32), true},
		{"argon2 iterations", ah, argonWith(true, 64, 2, 2, salt, 32), true},
		{"argon2 parallelism", ah, argonWith(true, 64, 1, 1, salt, 32), true},
		{"argon2 salt length", ah, argonWith(true, 64, 1, 2, salt[:8], 32), true},
		{"argon2 key length", ah, argonWith(true, 64, 1, 2, salt, 16), true},
		{"import", bh, []byte("$md5$CY9rzUYh03PK3k6DJie09g=="), true},
		{"garbage", bh, []byte("nope"), true},
		{"empty", ah, nil, true},
	}
	for _, c := range cases {
		if got := c.h.NeedsRehash(c.hash); got != c.want {
			t.Errorf("%s: NeedsRehash(%q) = %v, want %v", c.name, c.hash, got, c.want)
		}
	}
}

func TestDummy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []config.Hashers{fastBcrypt, fastArgon2} {
		h := mustNew(t, cfg)
		var wg sync.WaitGroup
		got := make([][]byte, 8)
		for i := range got {
			wg.Go(func() { got[i] = h.Dummy() })
		}
		wg.Wait()
		for _, d := range got[1:] {
			if !bytes.Equal(d, got[0]) {
				t.Fatal("Dummy changed between calls")
			}
		}
		if h.NeedsRehash(got[0]) {
			t.Errorf("Dummy %q is not in the configured algorithm", got[0])
		}
		if err := h.Compare(ctx, []byte("password"), got[0]); !errors.Is(err, ErrMismatch) {
			t.Errorf("Compare against Dummy = %v", err)
		}
	}
}

func TestConcurrentHashing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := mustNew(t, fastArgon2)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			pw := fmt.Appendf(nil, "password-%d", i)
			enc, err := h.Hash(ctx, pw)
			if err == nil {
				err = h.Compare(ctx, pw, enc)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustNew(t, fastArgon2).Hash(ctx, []byte("pw")); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash = %v", err)
	}
	if err := anyHasher.Compare(ctx, []byte("test"), []byte(literalVectors[0].hash)); !errors.Is(err, context.Canceled) {
		t.Errorf("Compare = %v", err)
	}
}

// importCase builds an imported hash with the library functions.
type importCase struct {
	name string
	hash string
}

func generatedImports(t *testing.T, pw []byte) []importCase {
	b64 := base64.StdEncoding.EncodeToString
	raw := base64.RawStdEncoding.EncodeToString
	salt := []byte("saltsaltsalt")
	var out []importCase
	add := func(name, hash string) { out = append(out, importCase{name, hash}) }

	for _, minor := range []string{"2a", "2b", "2y"} {
		b, err := bcrypt.GenerateFromPassword(pw, 4)
		if err != nil {
			t.Fatal(err)
		}
		add("bcrypt "+minor, "$"+minor+string(b[3:]))
	}
	add("argon2id", fmt.Sprintf("$argon2id$v=19$m=64,t=2,p=1$%s$%s", raw(salt), raw(argon2.IDKey(pw, salt, 2, 64, 1, 24))))
	add("argon2i", fmt.Sprintf("$argon2i$v=19$m=32,t=3,p=4$%s$%s", raw(salt), raw(argon2.Key(pw, salt, 3, 32, 4, 16))))
	for name, prf := range pbkdf2Digests {
		key, err := pbkdf2.Key(prf, string(pw), salt, 1000, 20)
		if err != nil {
			t.Fatal(err)
		}
		add("pbkdf2-"+name, fmt.Sprintf("$pbkdf2-%s$i=1000,l=20$%s$%s", name, raw(salt), raw(key)))
	}
	sk, _ := scrypt.Key(pw, salt, 1024, 8, 1, 32)
	add("scrypt", fmt.Sprintf("$scrypt$ln=1024,r=8,p=1$%s$%s", b64(salt), b64(sk)))
	sep, signer := []byte{7}, bytes.Repeat([]byte("signer"), 8)
	fk, _ := scrypt.Key(pw, append(append([]byte{}, salt...), sep...), 1<<10, 8, 1, 32)
	block, _ := aes.NewCipher(fk)
	enc := make([]byte, len(signer))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(enc, signer)
	add("firescrypt", fmt.Sprintf("$firescrypt$ln=10,r=8,p=1$%s$%s$%s$%s", b64(salt), b64(enc), b64(sep), b64(signer)))

	sum := func(h func() hash.Hash, parts ...[]byte) []byte {
		d := h()
		for _, p := range parts {
			d.Write(p)
		}
		return d.Sum(nil)
	}
	for tag, h := range map[string]func() hash.Hash{"SSHA": sha1.New, "SSHA256": sha256.New, "SSHA512": sha512.New} {
		add(tag, "{"+tag+"}"+b64(append(sum(h, pw, salt), salt...)))
	}
	pf := b64([]byte("{SALT}::{PASSWORD}{SALT}"))
	for name, h := range shaDigests {
		add(name, fmt.Sprintf("$%s$pf=%s$%s$%s", name, pf, b64(salt), b64(sum(h, salt, []byte("::"), pw, salt))))
	}
	add("md5", "$md5$"+b64(sum(md5.New, pw)))
	add("md5 salted", fmt.Sprintf("$md5$pf=%s$%s$%s", pf, b64(salt), b64(sum(md5.New, salt, []byte("::"), pw, salt))))
	for name, h := range hmacDigests {
		m := hmac.New(h, salt)
		m.Write(pw)
		add("hmac-"+name, fmt.Sprintf("$hmac-%s$%s$%s", name, b64([]byte(hex.EncodeToString(m.Sum(nil)))), b64(salt)))
	}
	add("md5-crypt", "$md5-crypt$abcdefgh$"+string(md5Crypt(pw, []byte("abcdefgh"), 0)))
	add("sha256-crypt", "$sha256-crypt$rounds=1000$abcdefgh$"+string(sha256Crypt(pw, []byte("abcdefgh"), 1000)))
	add("sha512-crypt", "$6$abc$"+string(sha512Crypt(pw, []byte("abc"), 5000)))
	return out
}

func TestGeneratedImports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, pw := range [][]byte{[]byte("correct horse"), {}, bytes.Repeat([]byte("long password "), 5)} {
		for _, c := range generatedImports(t, pw) {
			if !Recognised([]byte(c.hash)) {
				t.Errorf("%s: not recognised: %q (%v)", c.name, c.hash, anyHasher.Compare(ctx, pw, []byte(c.hash)))
				continue
			}
			if err := anyHasher.Compare(ctx, pw, []byte(c.hash)); err != nil {
				t.Errorf("%s (%d-byte password): Compare(right) = %v", c.name, len(pw), err)
			}
			if err := anyHasher.Compare(ctx, append(pw, '!'), []byte(c.hash)); !errors.Is(err, ErrMismatch) {
				t.Errorf("%s: Compare(wrong) = %v", c.name, err)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	unknown := []string{
		"", "plain", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$argon2d$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$pbkdf2-md5$i=1000,l=16$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA",
		"$hmac-invalid$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDU=",
		"$hmac$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDU=",
		"$unknown$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6",
		"{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", "$shaNotExistent$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9w$6ctp",
	}
	malformedHashes := []string{
		// bcrypt
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe",
		"$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$x5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe!",
		// argon2
		"$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ",
		"$argon2id$v=16$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=8388608,t=1,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", // 8 GiB
		"$argon2id$v=19$m=4194304,t=3,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", // 12 GiB passes
		"$argon2id$v=19$m=32,t=0,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=32,t=2,p=0$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=32,t=2,p=256$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=16,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$t=2,m=32,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=-32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw",
		"$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$",
		"$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5A",
		"$argon2id$v=19$m=32,t=2,p=4$c!m94$MNzk5BtR2vUhrp6qQEjRNw",
		// pbkdf2
		"$pbkdf2-sha256$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
		"$pbkdf2-sha256$aaaa$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
		"$pbkdf2-sha512$I=100000,l=32$bdHBpn7OWOivJMVJypy2UqR0UnaD5prQXRZevj/05YU$+wArTfv1a+bNGO1iZrmEdVjhA+lL11wF4/IxpgYfPwc",
		"$pbkdf2-sha256$i=0,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
		"$pbkdf2-sha256$i=10000001,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI",
		"$pbkdf2-sha256$i=5000000,l=64$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$" + strings.Repeat("QJxz", 21) + "QJw",
		// scrypt and firescrypt
		"$scrypt$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=16384,r=8,p=1$(2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=16385,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=abc,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=2097152,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=1048576,r=8,p=16$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$scrypt$ln=16384,r=0,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=",
		"$firescrypt$ln=31,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==",
		"$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==",
		"$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4Nt$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==",
		// digests
		"{SSHA}tooshort", "{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "{SSHA512}!!",
		"$sha1$pf=$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
		"$sha1$$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
		"$sha1$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
		"$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$5opmkgz03r$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
		"$sha1$pf=e1NBTFR9$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", // "{SALT}": no password
		"$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=",
		"$md5$$", "$md5$$$", "$md5$pf=$$", "$md5$pf=MTIz$Z$", "$md5$pf=MTIz$MTIz$Z", "$md5$", "$md5$MTIz",
		"$hmac-md5$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=",
		"$hmac-md5$MTIzNDU=", "$hmac-md5$$MTIzNDU=", "$hmac-md5$",
		"$hmac-sha1$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDU=",
		// crypt
		"$md5-crypt$$", "$md5-crypt$$$", "$md5-crypt$whuMjZj.HMFoaTaZRRtkO0",
		"$md5-crypt$123456789$whuMjZj.HMFoaTaZRRtkO0", "$1$salt$qJH7.N4xYta3aEG/dfqo/!",
		"$sha256-crypt$$", "$sha256-crypt$$$", "$sha512-crypt$$", "$sha512-crypt$$$",
		"$5$rounds=99999999999$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"$5$rounds=x$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"$5$saltstringsaltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"$6$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		// oversized
		"$md5$" + strings.Repeat("A", maxHashBytes),
	}
	ctx := context.Background()
	for _, h := range unknown {
		if err := anyHasher.Compare(ctx, []byte("test"), []byte(h)); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Compare(%q) = %v, want ErrUnknownFormat", h, err)
		}
		if Recognised([]byte(h)) {
			t.Errorf("Recognised(%q) = true", h)
		}
	}
	for _, h := range malformedHashes {
		err := anyHasher.Compare(ctx, []byte("test"), []byte(h))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Compare(%.80q) = %v, want ErrMalformed", h, err)
		}
		if Recognised([]byte(h)) {
			t.Errorf("Recognised(%.80q) = true", h)
		}
	}
}
