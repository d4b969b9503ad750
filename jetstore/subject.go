package jetstore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Subject segments under the prefix: the stream stores PREFIX.hist.<token>
// and republishes each message to PREFIX.ch.<token>, the subject the
// gateways already subscribe to (package cluster).
const (
	historySegment = ".hist."
	channelSegment = ".ch."
)

// maxChannelToken bounds the channel part of a subject (package cluster's
// limit: the broker's control line holds the whole subject).
const maxChannelToken = 256

// ChannelToken encodes a channel name as one subject token exactly as
// package cluster does for PREFIX.ch.<token> (cluster/doc.go, "Subjects"):
// every byte outside '!'..'~' and each of ". * > % #" as %XX, the empty name
// as "%", a longer encoding than maxChannelToken as "#" and the name's
// SHA-256 in hex. A test pins it to cluster.ChannelSubject; it lives here
// too because package cluster will import this one.
func ChannelToken(name string) string {
	if name == "" {
		return "%"
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>' && c != '%' && c != '#' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > maxChannelToken {
		sum := sha256.Sum256([]byte(name))
		return "#" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// HistorySubject is where a channel's messages are published to be stored.
func HistorySubject(prefix, channel string) string {
	return prefix + historySegment + ChannelToken(channel)
}

// LiveSubject is where the stream republishes a channel's messages
// (package cluster's ChannelSubject).
func LiveSubject(prefix, channel string) string {
	return prefix + channelSegment + ChannelToken(channel)
}

// streamName derives the stream's name from the prefix: stream names may
// not hold '.', '*', '>' or whitespace.
func streamName(prefix string) string {
	r := strings.NewReplacer(".", "_", "*", "_", ">", "_", " ", "_", "\t", "_")
	return strings.ToUpper(r.Replace(prefix)) + "_HISTORY"
}
