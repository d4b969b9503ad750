// Package cluster runs many gateways as one, with commands routed through a
// NATS broker (DESIGN.md section 6): set NATS_URL and every gateway's control
// port accepts every command, whichever gateway holds the stream. Without
// NATS_URL none of this runs and a gateway is alone, exactly as before.
//
// # What runs where
//
// One *Cluster per gateway process, built before the event loops (it picks the
// node id the loops stamp into every token) and attached to them after. It
// owns one NATS connection (nats.go, reconnecting forever with a capped
// exponential backoff; the connection is created with NoEcho, so a gateway
// never receives what it published itself) and three goroutines of its own:
//
//   - the channel manager: the loops report, through loop.Options.OnChannel, a
//     channel's first subscriber on a loop and its last one leaving. The
//     callback only counts under a mutex and kicks the manager; the manager
//     subscribes to the channel's subject while the count (loops holding
//     streams bound to it) is above zero and unsubscribes when it reaches zero.
//     A publish therefore reaches only gateways that have subscribers.
//   - the dispatcher: every subscription of the gateway (its node subject and
//     its channel subjects) delivers into one Go channel, in the order the
//     broker sent them; the dispatcher takes what is queued (up to
//     maxDispatchMsgs), applies it with one loop.Server.Do, and answers the
//     requests. One queue and one Do at a time keep the broker's order.
//   - nats.go's own reader and the reply handler of forwarded sends.
//
// The control port's handlers call Cluster.Do (Cluster implements
// control.Gateway). It never blocks a loop: the loops never touch the broker.
//
// # Node ids
//
// Every gateway has a node id, 1 to 65535, carried in bytes 5 and 7 of every
// token it issues (loop.TokenNode). NODE_ID sets it; unset, a random id is
// drawn. Either way the gateway subscribes to its node subject and then asks
// it: if another gateway answers, a drawn id is drawn again (up to
// maxNodeIDDraws times) and a configured one stops the start with
// ErrNodeIDTaken. When the broker is down at start the check is skipped (and
// logged): 65535 ids make a clash between a handful of gateways unlikely.
//
// # Subjects and message formats
//
// PREFIX is NATS_SUBJECT_PREFIX (default "ssegw").
//
// PREFIX.ch.<channel> — a publish to a channel. <channel> is the channel name
// with every byte outside '!'..'~', and each of '.', '*', '>', '%', '#',
// written as %XX (two uppercase hex digits); the empty name is "%"; a name
// whose encoding is longer than maxChannelToken bytes is "#" followed by the
// lowercase hex SHA-256 of the name. So channel "room-1" is "ssegw.ch.room-1"
// and "a.b c" is "ssegw.ch.a%2Eb%20c". The payload is the SSE message written
// to every bound stream, byte for byte (e.g. "event: x\ndata: y\n\n"), already
// in the cluster's EVENT_FORMAT: every gateway of a cluster must run with the
// same EVENT_FORMAT. A header "Ssegw-Close: 1" ends each stream after the
// message (an empty payload with it only ends them). A backend may publish
// there itself (e.g. `nats pub ssegw.ch.room-1 $'data: hi\n\n'`); the gateway
// writes what it gets without checking it, so a malformed message breaks that
// stream's framing: only publish well-formed SSE messages.
//
// PREFIX.node.<id> — commands for streams held by gateway <id> (decimal), by
// request/reply. The payload is zero or more records, each
//
//	<kind> <token> <length>\n<message>
//
// with <kind> one byte, 'S' (send) or 'C' (send, then end the stream), a
// space, the 36-byte token, a space, the message length in decimal, a newline,
// and that many bytes of SSE message (length 0: no event). The reply holds one
// byte per record, in order: 'o' ok, 'b' buffered (the connect callback is
// pending), 'n' token not found, 'f' buffer full, 'u' the loops did not
// answer; or '!' and a reason if the request was malformed. An empty request
// gets an empty reply (the node-id probe). A backend may send there itself:
// the node id of a token is bytes 5 and 7 of its UUID, i.e. the hex digits at
// text offsets 11-12 and 16-17 ("xxxxxxxx-xxNN-xxNN-...").
//
// PREFIX.presence — every gateway announces its node id (decimal) here every
// second, and "-<id>" when it leaves; the ids heard in the last 3.5 s are the
// cluster's members (presence.go). PREFIX.list — cluster-wide listings by
// request and a run of reply messages (listing.go has the format).
//
// PREFIX.hist.<channel> — with HISTORY_SIZE > 0, the cluster's history, a
// JetStream stream (history.go, package jetstore): kept publishes are stored
// there and republished by the broker to PREFIX.ch.<channel> with their
// sequence (the position) in the Nats-Sequence header.
//
// # What the control port answers in cluster mode
//
// A send for a token of this gateway, and anything the token does not parse
// as, is applied locally as before. A send for another node's token is
// forwarded; its answer is the owner's ('ok', 'buffered', 404
// TOKEN_NOT_FOUND, 503 BUFFER_FULL); if no gateway has that node id any more
// the answer is 404 TOKEN_NOT_FOUND; while the broker is down, or when the
// owner does not answer within forwardTimeout, the whole request gets 503
// (ErrBrokerDown, ErrForwardTimeout), and a send whose answer was lost may
// still have been applied. A publish is sent to the broker and applied to this
// gateway's own streams; "connections" counts this gateway's streams only (the
// others are reached asynchronously; loop.CmdResult's count can only be set by
// loop.Server.Do).
//
// # Ordering
//
// Ordered: for one stream, the commands that entered through one control
// request (a batch included), and through consecutive requests to one control
// port, reach the stream in that order, whether the stream is local or on
// another gateway: local commands are applied by loop.Server.Do in order;
// everything bound for the broker leaves on one NATS connection in command
// order (forwarded sends of a batch are pipelined but never reordered), the
// broker keeps one connection's order towards each subscriber, and the owner
// applies what it receives in arrival order through one queue. Publishes
// from a backend's own NATS connection are likewise ordered among themselves.
//
// Not ordered: commands that entered through different gateways, or through
// concurrent requests, or a publish on a backend's NATS connection against
// commands through a control port — as with concurrent requests to a single
// gateway. A stream bound to a channel receives the publishes that reach the
// broker after its gateway's subscription is in place (microseconds to
// milliseconds after its first binding on that gateway); a publish made
// while the broker is down reaches this gateway's streams at once and the
// others when the broker is back, as far as nats.go's reconnect buffer holds
// (reconnectBuffer), then none. A gateway that falls behind by more than
// dispatchQueue messages loses the excess (counted in
// ssegw_cluster_dropped_messages_total): delivery through the broker is at
// most once, as NATS core is.
//
// The disconnect callback stays exactly once per accepted stream: only the
// owning gateway ever has the stream, and forwarded commands are applied by
// its loops like local ones.
package cluster
