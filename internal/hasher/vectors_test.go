package hasher

import (
	"context"
	"errors"
	"testing"
)

// Literal vectors from public documentation and test data: the Ory Kratos
// import documentation and its hash-comparison test cases, Ulrich Drepper's
// SHA-crypt specification, and an `openssl passwd -1` example.
// Vectors marked slow (high production costs) are skipped with -short and
// only checked with the right password.
var literalVectors = []struct {
	name, password, hash string
	slow                 bool
}{
	{"bcrypt", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", false},
	{"bcrypt 2b", "U*U*", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", false},
	{"bcrypt 2y", "U*U*U", "$2y$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", false},
	{"bcrypt kratos", "test", "$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6", true},
	{"argon2id", "test", "$argon2id$v=19$m=32,t=2,p=4$cm94YnRVOW5jZzFzcVE4bQ$MNzk5BtR2vUhrp6qQEjRNw", false},
	{"argon2i", "test", "$argon2i$v=19$m=65536,t=3,p=4$kk51rW/vxIVCYn+EG4kTSg$NyT88uraJ6im6dyha/M5jhXvpqlEdlS/9fEm7ScMb8c", false},
	{"pbkdf2-sha256", "test", "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI", false},
	{"pbkdf2-sha512", "test", "$pbkdf2-sha512$i=100000,l=32$bdHBpn7OWOivJMVJypy2UqR0UnaD5prQXRZevj/05YU$+wArTfv1a+bNGO1iZrmEdVjhA+lL11wF4/IxpgYfPwc", false},
	{"scrypt", "test", "$scrypt$ln=16384,r=8,p=1$2npRo7P03Mt8keSoMbyD/tKFWyUzjiQf2svUaNDSrhA=$MiCzNcIplSMqSBrm4HckjYqYhaVPPjTARTzwB1cVNYE=", false},
	{"firescrypt", "8x4WjoDbSxJZdR", "$firescrypt$ln=14,r=8,p=1$sPtDhWcd1MfdAw==$xbSou7FOl6mChCyzpCPIQ7tku7nsQMTFtyOZSXXd7tjBa4NtimOx7v42Gv2SfzPQu1oxM2/k4SsbOu73wlKe1A==$Bw==$YE0dO4bwD4JnJafh6lZZfkp1MtKzuKAXQcDCJNJNyeCHairWHKENOkbh3dzwaCdizzOspwr/FITUVlnOAwPKyw==", false},
	{"ssha", "test123", "{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a", false},
	{"ssha256", "test123", "{SSHA256}czO44OTV17PcF1cRxWrLZLy9xHd7CWyVYplr1rOhuMlx/7IK", false},
	{"ssha512", "test123", "{SSHA512}xPUl/px+1cG55rUH4rzcwxdOIPSB2TingLpiJJumN2xyDWN4Ix1WQG3ihnvHaWUE8MYNkvMi5rf0C9NYixHsE6Yh59M=", false},
	{"sha1", "test", "$sha1$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$2qU2SGWP8viTM1md3FiI3+rjWXQ=", false},
	{"sha1 password first", "test", "$sha1$pf=e1BBU1NXT1JEfSUle1NBTFR9$NW9wbWtnejAzcg==$YX0AW8/MW5ojUlnzTaR43ucHCog=", false},
	{"sha256", "test", "$sha256$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$0gfRVLCvtBCk20udLDEY5vNhujWx7RGjwRIS1ebMsLY=", false},
	{"sha512", "test", "$sha512$pf=e1NBTFR9e1BBU1NXT1JEfQ==$NW9wbWtnejAzcg==$6ctpVuApMNp0CgBXcdHw/GC562eFEFGr4gpgANX8ZYsX+j5B19IkdmOY2Fytsz3QUwSWdGcUjbqwgJGTH0UYvw==", false},
	{"md5", "test", "$md5$CY9rzUYh03PK3k6DJie09g==", false},
	{"md5 salted", "test", "$md5$pf=e1NBTFR9e1BBU1NXT1JEfQ==$MTIz$q+RdKCgc+ipCAcm5ChQwlQ==", false},
	{"md5-crypt", "test", "$md5-crypt$TVEiiKNb$SN6/pUaRQS/E8Jh46As2C/", false},
	{"md5-crypt empty salt", "test", "$md5-crypt$$whuMjZj.HMFoaTaZRRtkO0", false},
	{"md5-crypt native", "a", "$1$OKgLCmVl$d02jECa4DXn/oXX0R.MoQ/", false},
	{"md5-crypt native 2", "password", "$1$salt$qJH7.N4xYta3aEG/dfqo/0", false},
	{"sha256-crypt", "test", "$sha256-crypt$rounds=535000$05R.9KB6UC2kLI3w$Q/zslzx./JjkAVPTwp6th7nW5l7JU91Gte/UmIh.U78", true},
	{"sha256-crypt spec", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", false},
	{"sha256-crypt spec rounds", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", false},
	{"sha512-crypt", "test", "$sha512-crypt$rounds=656000$3LVbIAVxR//cRajw$uuNasMW.RYxlGzIRFU1Was70BPSa933AjxhZIGJdJBOlqJAHlgqa0yuiuq5JHF/ryNGryJkj87G9i3G2HPSXg1", true},
	{"sha512-crypt spec", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", false},
	{"hmac-md4", "test", "$hmac-md4$MWQ5ZTI4Nzc2Zjg4YmE2MTQ5YjQ0OTMyOGE4NWU4YjA=$MTIzNDU=", false},
	{"hmac-md5", "test", "$hmac-md5$ZmU4Njk3Zjc0MmQwODA0MDVkMTI3MGU2MTYzMzE2Zjk=$MTIzNDU=", false},
	{"hmac-sha1", "test", "$hmac-sha1$NDMyNjcxZTUyY2Y2YTBmYjZjZDE2NjQxYjAwNjFiZjAwOGEzNWM5MA==$MTIzNDU=", false},
	{"hmac-sha256", "test", "$hmac-sha256$ZTAzMWJhMWMyOTM4YjFkMjgzZjkxOWExZGY5YWM2NmMxOTJhN2RkNzQ0MzJkNWZkNGFkYTI5OTk0MWJhMTA5Zg==$MTIzNDU=", false},
}

func TestLiteralVectors(t *testing.T) {
	t.Parallel()
	for _, v := range literalVectors {
		t.Run(v.name, func(t *testing.T) {
			if v.slow && testing.Short() {
				t.Skip("slow vector")
			}
			t.Parallel()
			ctx := context.Background()
			if !Recognised([]byte(v.hash)) {
				t.Fatalf("Recognised(%q) = false", v.hash)
			}
			if err := anyHasher.Compare(ctx, []byte(v.password), []byte(v.hash)); err != nil {
				t.Fatalf("Compare(right password) = %v", err)
			}
			if v.slow {
				return
			}
			if err := anyHasher.Compare(ctx, []byte(v.password+"x"), []byte(v.hash)); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Compare(wrong password) = %v, want ErrMismatch", err)
			}
		})
	}
}
