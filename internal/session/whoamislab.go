package session

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/google/uuid"
)

// whoamiSlab holds the WhoamiCache's rows encoded in large byte chunks,
// found through an index whose entries hold no pointers. Kept as Go
// values, a million rows are seven million objects that every garbage
// collection marks (a forced one took 1.2 s here, against 10 ms for the
// same bytes in chunks), and the collections come more often under load,
// when they cost the most. Written bytes never change: a chunk is appended
// to until full, and a record read from it stays valid after the chunk is
// dropped, so records are decoded outside the cache's lock.
//
// A chunk whose live records fall under half of it is emptied into the
// newest chunk, so the space of forgotten rows comes back; over budget,
// the oldest chunk goes whole.
type whoamiSlab struct {
	chunkSize int
	index     map[int64]whoamiSlot
	chunks    map[uint32]*whoamiChunk
	// oldest is the lowest chunk number that may still exist; newest the
	// chunk appended to (absent when none is).
	oldest, newest uint32
	// bytes is what the slab holds: its chunks, whole, and the index.
	bytes int64
}

type whoamiSlot struct{ chunk, off, size uint32 }

type whoamiChunk struct {
	buf  []byte
	live int
}

const (
	whoamiMaxChunk = 1 << 20
	whoamiMinChunk = 16 << 10
	// whoamiIndexEntry is an index entry's share of the map, roughly.
	whoamiIndexEntry = 48
)

func newWhoamiSlab(maxBytes int64) whoamiSlab {
	size := int64(whoamiMaxChunk)
	for size > whoamiMinChunk && size*8 > maxBytes {
		size /= 2
	}
	return whoamiSlab{chunkSize: int(size), index: map[int64]whoamiSlot{}, chunks: map[uint32]*whoamiChunk{}, newest: 1, oldest: 1}
}

func (s *whoamiSlab) len() int { return len(s.index) }

// get returns the record kept under k, nil when none is.
func (s *whoamiSlab) get(k int64) []byte {
	slot, ok := s.index[k]
	if !ok {
		return nil
	}
	end := slot.off + slot.size
	return s.chunks[slot.chunk].buf[slot.off:end:end]
}

// put keeps rec under its key, in place of what was; a record too large
// for a quarter of a chunk is not kept (it is read from the database
// instead).
func (s *whoamiSlab) put(rec []byte) {
	k := recordKey(rec)
	s.remove(k)
	if len(rec) > s.chunkSize/4 {
		return
	}
	s.index[k] = s.append(rec)
	s.bytes += whoamiIndexEntry
}

func (s *whoamiSlab) append(rec []byte) whoamiSlot {
	c := s.chunks[s.newest]
	if c == nil || len(c.buf)+len(rec) > cap(c.buf) {
		if c != nil {
			s.newest++
		}
		c = &whoamiChunk{buf: make([]byte, 0, s.chunkSize)}
		s.chunks[s.newest] = c
		s.bytes += int64(s.chunkSize)
	}
	slot := whoamiSlot{chunk: s.newest, off: uint32(len(c.buf)), size: uint32(len(rec))}
	c.buf = append(c.buf, rec...)
	c.live += len(rec)
	return slot
}

// remove forgets the record under k.
func (s *whoamiSlab) remove(k int64) {
	slot, ok := s.index[k]
	if !ok {
		return
	}
	delete(s.index, k)
	s.bytes -= whoamiIndexEntry
	c := s.chunks[slot.chunk]
	c.live -= int(slot.size)
	if slot.chunk != s.newest && c.live < s.chunkSize/2 {
		s.drop(slot.chunk, true)
	}
}

// drop removes chunk n, moving its live records to the newest chunk when
// move is set and forgetting them otherwise.
func (s *whoamiSlab) drop(n uint32, move bool) {
	c := s.chunks[n]
	delete(s.chunks, n)
	s.bytes -= int64(s.chunkSize)
	for off := 0; off < len(c.buf); {
		size := int(binary.LittleEndian.Uint32(c.buf[off:]))
		k := recordKey(c.buf[off:])
		if slot := s.index[k]; slot.chunk == n && int(slot.off) == off {
			if move {
				s.index[k] = s.append(c.buf[off : off+size])
			} else {
				delete(s.index, k)
				s.bytes -= whoamiIndexEntry
			}
		}
		off += size
	}
	if n == s.newest {
		s.newest++
	}
}

// trim drops the oldest chunks until the slab fits in maxBytes.
func (s *whoamiSlab) trim(maxBytes int64) {
	for s.bytes > maxBytes && len(s.chunks) > 0 {
		for s.chunks[s.oldest] == nil {
			s.oldest++
		}
		s.drop(s.oldest, false)
	}
}

func (s *whoamiSlab) clear() {
	clear(s.index)
	clear(s.chunks)
	s.bytes = 0
	s.newest++
	s.oldest = s.newest
}

// A record is a row as put keeps it: its length (4 bytes) and key (8),
// the token's digest, the two ids, active, the five times (seconds and
// nanoseconds), the revision, the factors, the log head it was kept at,
// and the strings, each after its length. Only current rows are kept, so
// the view and the revision it belongs to are the row's own.
const (
	recordDigestAt = 12
	recordFixed    = recordDigestAt + sha256.Size + 16 + 16 + 1 + 5*12 + 8 + 8 + 8
)

const (
	recordIdentityAt = recordDigestAt + sha256.Size + 16
	recordKeptAtAt   = recordIdentityAt + 16 + 1 + 5*12 + 8 + 8
)

func recordKey(rec []byte) int64 { return int64(binary.LittleEndian.Uint64(rec[4:])) }

func recordIdentity(rec []byte) uuid.UUID {
	return uuid.UUID(rec[recordIdentityAt : recordIdentityAt+16])
}

func recordKeptAt(rec []byte) int64 {
	return int64(binary.LittleEndian.Uint64(rec[recordKeptAtAt:]))
}

func recordDigest(rec []byte) []byte { return rec[recordDigestAt : recordDigestAt+sha256.Size] }

func (r *whoamiRow) strings() [6]*string {
	return [6]*string{&r.aal, &r.methods, &r.devices, &r.identityState, &r.schemaID, &r.view.String}
}

func (r *whoamiRow) times() [5]*time.Time {
	return [5]*time.Time{&r.issued.Time, &r.authed.Time, &r.expires.Time, &r.created.Time, &r.updated.Time}
}

// record encodes r, kept under k.
func (r *whoamiRow) record(k int64) []byte {
	size := recordFixed
	for _, s := range r.strings() {
		size += binary.MaxVarintLen32 + len(*s)
	}
	b := make([]byte, 4, size)
	b = binary.LittleEndian.AppendUint64(b, uint64(k))
	b = append(b, r.digest[:]...)
	b = append(b, r.id[:]...)
	b = append(b, r.identityID[:]...)
	if r.active {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, t := range r.times() {
		b = binary.LittleEndian.AppendUint64(b, uint64(t.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(r.identityRevision))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.factors))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.keptAt))
	for _, s := range r.strings() {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// whoamiRowOf decodes a record written by record.
func whoamiRowOf(rec []byte) *whoamiRow {
	r := &whoamiRow{}
	b := rec[recordDigestAt:]
	b = b[copy(r.digest[:], b):]
	b = b[copy(r.id[:], b):]
	b = b[copy(r.identityID[:], b):]
	r.active, b = b[0] == 1, b[1:]
	for _, t := range r.times() {
		*t = time.Unix(int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint32(b[8:]))).UTC()
		b = b[12:]
	}
	r.identityRevision, b = int64(binary.LittleEndian.Uint64(b)), b[8:]
	r.factors, b = int(binary.LittleEndian.Uint64(b)), b[8:]
	r.keptAt, b = int64(binary.LittleEndian.Uint64(b)), b[8:]
	// The strings share rec's bytes: written bytes never change (see
	// whoamiSlab), so a whoami answer costs no copy of them.
	for _, s := range r.strings() {
		n, w := binary.Uvarint(b)
		if n > 0 {
			*s = unsafe.String(&b[w], int(n))
		} else {
			*s = ""
		}
		b = b[w+int(n):]
	}
	r.view.Valid = true
	r.viewOfRev.Int64, r.viewOfRev.Valid = r.identityRevision, true
	return r
}
