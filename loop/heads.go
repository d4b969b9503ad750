package loop

import (
	"ssegw/callback"
	"ssegw/headstore"
)

// A stream's request head is needed twice: by the connect callback, which a
// callback worker encodes from the plain copy made when the stream opened
// (Store.Plain: from a pool the accepted streams give their copies back to),
// and by the disconnect callback at its end. In between, the loop keeps only
// what its head store (package headstore) makes of the head: the compact form
// by default (DISCONNECT_REQUEST=full), the request-target (url) or nothing
// (none). Both swaps run on the loop: keepHead when the connect is accepted
// (the worker is done with the plain copy by then), takeHead when the
// disconnect job is made. The listing of live streams reads the url from
// whatever the stream keeps (listing.go, Store.Target).

// requestKept is what a disconnect carries, by what the store keeps.
var requestKept = [...]callback.Request{
	headstore.Full: callback.RequestFull,
	headstore.URL:  callback.RequestURL,
	headstore.None: callback.RequestNone,
}

// keepHead replaces the plain head of an accepted stream by what the loop
// keeps of it.
func (ls *loopState) keepHead(cs *conn) {
	plain := cs.head
	cs.head = ls.heads.Keep(plain)
	ls.heads.Recycle(plain) // the connect callback is done with it
}

// takeHead returns what the stream's disconnect callback carries (see
// callback.Request) and releases what the loop kept.
func (ls *loopState) takeHead(cs *conn) ([]byte, callback.Request) {
	head := ls.heads.Take(cs.head)
	cs.head = nil
	return head, requestKept[ls.heads.Mode()]
}
