package loop

import (
	"ssegw/frame"
	"ssegw/sse"
)

// Frame is the shared encoded SSE message (package frame): one reference per
// loop that writes it, returned to the pool by the last.
type Frame = frame.Frame

// NewFrame encodes ev in format f. The frame starts with one reference.
func NewFrame(ev *sse.Event, f sse.Format) *Frame { return frame.New(ev, f) }

// NewRawFrame wraps an already encoded SSE message (a frame forwarded from
// another gateway, whose Message it was).
func NewRawFrame(msg []byte) *Frame { return frame.NewRaw(msg) }

// newRawFrame wraps fixed message bytes (ready, heartbeat, retry hints).
func newRawFrame(msg []byte) *Frame { return frame.NewRaw(msg) }
