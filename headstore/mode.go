package headstore

// Mode is how much of a stream's request head a Store keeps for the
// disconnect callback (DISCONNECT_REQUEST).
type Mode uint8

const (
	// Full keeps the whole head (compacted); the disconnect carries the
	// request exactly as the connect did.
	Full Mode = iota
	// URL keeps the request-target only; the disconnect's headers are {}.
	URL
	// None keeps nothing; the disconnect's url is "" and its headers {}.
	None
)

var modeNames = [...]string{Full: "full", URL: "url", None: "none"}

func (m Mode) String() string { return modeNames[m] }

// ParseMode reads "full", "url" or "none".
func ParseMode(s string) (Mode, bool) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), true
		}
	}
	return Full, false
}
