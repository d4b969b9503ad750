// Package jetstore is the cluster's channel history in NATS JetStream
// (CONTRACT.md section 9, cluster mode): one stream over the channels'
// history subjects, whose sequence is the position and whose identity is the
// epoch, so positions are the same on every gateway, a stream drained from
// one gateway resumes on another, and the history outlives any gateway. It
// uses the official nats.go jetstream package and needs nats-server
// MinBrokerVersion (2.10) or later (Open refuses older ones with
// ErrBrokerOld; Debian's 2.9.10 is too old).
//
// # What runs where
//
// One *Store per gateway, on the gateway's NATS connection (package
// cluster's). It starts no goroutines of its own. Every method talks to the
// broker and takes a context that bounds it, so none may run on an event
// loop: Publish runs on control goroutines, a Replay on whatever goroutine
// the integration gives it (its frames are then posted to the stream's loop
// in bounded steps). Publish, Ready, Latest, Epoch, Position and LiveSeq are
// safe for concurrent use; a Replay belongs to one goroutine.
//
// # The stream
//
// Open creates the stream, or updates it to the gateway's settings
// (PREFIX "ssegw" gives the stream SSEGW_HISTORY):
//
//	subjects      PREFIX.hist.*          one subject per channel (the token of package cluster)
//	per subject   HISTORY_SIZE messages  (MaxMsgsPerSubject; discard old)
//	max age       HISTORY_TTL_SECONDS
//	max bytes     HISTORY_MAX_BYTES      the whole stream; the oldest go first
//	storage       file, replicas 1 (Options.Replicas for a JetStream cluster)
//	direct get    on (the completeness proof reads single messages)
//	republish     PREFIX.hist.* -> PREFIX.ch.{{wildcard(1)}}
//
// Publish stores a message on PREFIX.hist.<token>; the broker then
// republishes it to PREFIX.ch.<token> — the interest-routed core subject the
// gateways already subscribe to — with the original headers plus
// Nats-Stream, Nats-Sequence (the position), Nats-Subject, Nats-Time-Stamp
// and Nats-Last-Sequence. One publish both stores and delivers, live
// delivery stays core NATS, and only gateways with subscribers get it. The
// copy comes from the broker, not from the publishing connection, so the
// publishing gateway receives it too despite NoEcho: with history on, a
// gateway should deliver its own publishes from the republished copy (or
// skip it by position). A message published on PREFIX.ch.<token> directly
// (a backend's own core publish) is delivered as before but is not kept and
// has no position (LiveSeq says false).
//
// The epoch is the stream's creation time (history.EpochOf), which survives
// broker restarts and limit updates and changes when the stream is deleted
// and created again (Ready recreates a deleted stream). Each gateway reads
// it at Open, at every Ready, Latest and Replay, and when a publish answer
// shows the sequence went back; between those a recreation goes unnoticed
// for at most one readiness interval.
//
// # Proving completeness
//
// The size bound deletes a subject's oldest message (inside the stream);
// the age and byte bounds delete the stream's oldest (its front). Both
// delete oldest first, so a subject's kept messages are always the newest
// part of what it ever had, and the size bound never deletes a subject's
// newest message. Every message carries HeaderPrev, a position P such that
// its subject had no message between P and itself:
//
//   - when this gateway knows the subject's last position L (from its own
//     last publish there, or the last message read back), it publishes with
//     Nats-Expected-Last-Subject-Sequence: L and HeaderPrev: L; the broker
//     stores it only if L is still the subject's last, so nothing came
//     between (any later message would be newer than L, and a newest is
//     never deleted for size, nor from the front while L is kept);
//   - when the subject holds nothing, every earlier message of it was
//     deleted from the front, so all lie below the stream's first sequence
//     F (read after the subject was seen empty): expected 0, HeaderPrev F-1.
//
// A concurrent publish to the channel (another gateway) makes the broker
// refuse the expected sequence; Publish retries with the sequence the
// refusal names, after a jittered pause (publishAttempts, then ErrConflict).
//
// Replay(after p, channels) answers Done, Truncated or Unknown, or More
// with a Replay to read, before anything is delivered. For each channel it
// direct-gets the oldest message after p: if there is one, its HeaderPrev
// must be <= p (else Truncated: the message before it, after p, was
// deleted). Then it reads the stream's state (after the gets: the front only
// moves on): another epoch, or p above the last sequence, is Unknown. A
// channel with nothing after p lost nothing if the front has not passed p
// (F-1 <= p), or if its last kept message is at or before p; otherwise it
// cannot be told and the answer is Truncated (a silent channel whose last
// message aged out, with a position from before the front: more cautious
// than package history, which keeps drop floors).
//
// Reading is one ephemeral consumer (filtered on all the channels' subjects,
// in memory, no acks, deleted by Close or by the broker after consumerIdle),
// which merges them in position order on the broker. Next fetches only what
// the broker counted as pending, checks every message's HeaderPrev against
// the last position delivered on its subject (a gap is a message deleted
// before it was read: Truncated), and reads the stream's front afterwards:
// if it passed the position the step started from, each channel whose last
// delivered position it passed must show it lost nothing as above, or the
// step is Truncated. Nothing deleted after p before it was read goes
// unreported.
//
// # Rules the integration relies on
//
//  1. Subscribe the stream's channels' live subjects before calling Replay;
//     then every message of them after the position is either returned by
//     the replay or delivered live.
//  2. While the replay runs, hold the stream's live messages back; when Next
//     says Done with position T, drop held and later live messages at or
//     below T and deliver the rest in order.
//  3. On Truncated or Unknown before anything was written, write `event:
//     resync`; on Truncated mid-replay, the stream already got part (the
//     integration decides: resync or end the stream).
//  4. On an error (ErrUnavailable), nothing was proven: treat it like
//     Truncated, or end the stream so the client retries.
//
// # Costs
//
// Publish: one broker round trip when the gateway knows the channel's last
// position (its own last publish there; maxCachedLinks of them), two or
// three otherwise; publishes to one channel from one gateway are serialised.
// Replay: one direct get per channel (proofParallel at once), one stream
// info, one consumer creation when there is something to read; Next: one
// fetch and one stream info; Close: one consumer deletion.
package jetstore
