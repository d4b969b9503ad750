package headstore

// Literal kinds: how the bytes of a literal are stored. What is not shared
// is mostly the per-user part of a head (session ids, tokens, analytics ids,
// timestamps, room numbers), which draws on few characters, so runs of them
// are packed: 6 or 4 bits a byte instead of 8.
const (
	litRaw   = 0 // as they are
	litToken = 1 // 6 bits a byte: A-Z a-z 0-9 - _ (ids and tokens, base64url)
	litDigit = 2 // 4 bits a byte: 0-9 . - : / _ , (numbers, timestamps, dotted ids)
)

const (
	tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	digitAlphabet = "0123456789.-:/_,"
	notIn         = 0xff
)

// Packing costs a literal header (a byte) where a raw run would have
// continued an adjacent one, so only runs that save more than that are
// packed: 4 digit-alphabet bytes pack into 2, 8 token bytes into 6.
const (
	minDigitRun = 4
	minTokenRun = 8
	// cutDigits is how many digit-alphabet bytes inside a token run make the
	// token run stop before them, so a long number inside an id gets 4 bits.
	cutDigits = 8
)

var tokenIndex, digitIndex = alphabetIndex(tokenAlphabet), alphabetIndex(digitAlphabet)

func alphabetIndex(alphabet string) *[256]byte {
	var idx [256]byte
	for i := range idx {
		idx[i] = notIn
	}
	for i := 0; i < len(alphabet); i++ {
		idx[alphabet[i]] = byte(i)
	}
	return &idx
}

// packedLen is how many bytes n characters of a kind take.
func packedLen(kind, n int) int {
	switch kind {
	case litToken:
		return (n*6 + 7) / 8
	case litDigit:
		return (n + 1) / 2
	}
	return n
}

// digitRun is the length of the run of digit-alphabet bytes b starts with.
func digitRun(b []byte) int {
	n := 0
	for n < len(b) && digitIndex[b[n]] != notIn {
		n++
	}
	return n
}

// tokenRun is the length of the run of token bytes b starts with, stopped
// before cutDigits digit-alphabet bytes in a row.
func tokenRun(b []byte) int {
	n, digits := 0, 0
	for n < len(b) && tokenIndex[b[n]] != notIn {
		if digitIndex[b[n]] == notIn {
			digits = 0
		} else if digits++; digits == cutDigits {
			return n + 1 - digits
		}
		n++
	}
	return n
}

// appendPacked packs src (every byte in kind's alphabet) onto dst.
func appendPacked(dst []byte, kind int, src []byte) []byte {
	if kind == litDigit {
		for i := 0; i < len(src); i += 2 {
			b := digitIndex[src[i]] << 4
			if i+1 < len(src) {
				b |= digitIndex[src[i+1]]
			}
			dst = append(dst, b)
		}
		return dst
	}
	var acc uint32
	bits := 0
	for _, c := range src {
		acc = acc<<6 | uint32(tokenIndex[c])
		if bits += 6; bits >= 8 {
			bits -= 8
			dst = append(dst, byte(acc>>bits))
		}
	}
	if bits > 0 {
		dst = append(dst, byte(acc<<(8-bits)))
	}
	return dst
}

// appendUnpacked appends the n characters of kind packed in p.
func appendUnpacked(dst []byte, kind, n int, p []byte) []byte {
	if kind == litDigit {
		for i := range n {
			dst = append(dst, digitAlphabet[p[i/2]>>(4-4*(i&1))&0xf])
		}
		return dst
	}
	var acc uint32
	bits := 0
	for range n {
		for bits < 6 {
			acc = acc<<8 | uint32(p[0])
			p = p[1:]
			bits += 8
		}
		bits -= 6
		dst = append(dst, tokenAlphabet[acc>>bits&0x3f])
	}
	return dst
}
