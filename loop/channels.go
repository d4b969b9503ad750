package loop

// maxBindingsPerConn bounds the channels one stream may be bound to; a connect
// response asking for more gets the first ones (and a warning in the log).
const maxBindingsPerConn = 128

// subList is one channel's subscribers on one loop. Removal leaves a nil
// tombstone so that a fan-out in progress keeps its place; the list is
// compacted when no fan-out is walking it.
type subList struct {
	name    string
	members []*conn
	live    int
	busy    bool // a fan-out is walking members
}

// subRef is a stream's side of one binding: 16 bytes per binding.
type subRef struct {
	list *subList
	idx  int32
}

// fanout is a publish being delivered on this loop, resumed step by step.
type fanout struct {
	o    op
	list *subList
	i    int
	end  int
	n    int64
}

// bind subscribes a stream to the channels its connect response named.
func (ls *loopState) bind(cs *conn, names []string) {
	if len(names) > maxBindingsPerConn {
		ls.srv.log.Warn("connect response has too many bindings; extra ones ignored", "bindings", len(names), "max", maxBindingsPerConn)
		names = names[:maxBindingsPerConn]
	}
	for _, name := range names {
		list := ls.channels[name]
		if list == nil {
			list = &subList{name: name}
			ls.channels[name] = list
			if f := ls.srv.opts.OnChannel; f != nil {
				f(name, true)
			}
		}
		if cs.boundTo(list) {
			continue
		}
		cs.subs = append(cs.subs, subRef{list: list, idx: int32(len(list.members))})
		list.members = append(list.members, cs)
		list.live++
	}
}

func (cs *conn) boundTo(l *subList) bool {
	for _, r := range cs.subs {
		if r.list == l {
			return true
		}
	}
	return false
}

// unbind removes a stream from all its channels.
func (ls *loopState) unbind(cs *conn) {
	for _, r := range cs.subs {
		r.list.members[r.idx] = nil
		r.list.live--
		ls.tidy(r.list)
	}
	cs.subs = nil
}

// tidy drops an empty channel or compacts a list with many tombstones.
func (ls *loopState) tidy(l *subList) {
	if l.busy {
		return
	}
	if l.live == 0 {
		if ls.channels[l.name] == l {
			delete(ls.channels, l.name)
			if f := ls.srv.opts.OnChannel; f != nil {
				f(l.name, false)
			}
		}
		return
	}
	if dead := len(l.members) - l.live; dead > 32 && dead > l.live {
		l.compact()
	}
}

func (l *subList) compact() {
	j := 0
	for _, m := range l.members {
		if m == nil {
			continue
		}
		for k := range m.subs {
			if m.subs[k].list == l {
				m.subs[k].idx = int32(j)
			}
		}
		l.members[j] = m
		j++
	}
	clear(l.members[j:])
	l.members = l.members[:j]
}

// startFanout begins delivering a publish to this loop's subscribers.
func (ls *loopState) startFanout(o *op) {
	list := ls.channels[o.channel]
	if list == nil {
		releaseFrame(o)
		o.w.finish()
		return
	}
	list.busy = true
	ls.fanout = &fanout{o: *o, list: list, end: len(list.members)}
	o.frame = nil
	ls.continueFanout()
}

// continueFanout writes to as many subscribers as the step's budget allows.
func (ls *loopState) continueFanout() {
	f := ls.fanout
	if f == nil {
		return
	}
	now := ls.now()
	for f.i < f.end && ls.budget > 0 {
		cs := f.list.members[f.i]
		f.i++
		if cs == nil || cs.state != stStream {
			continue
		}
		if ls.skipLive(cs, f.o.pos) { // its replay writes (or wrote) this one
			f.n++
			continue
		}
		if cs.has(fSetup) { // ready waits for its setup: keep the publish for after it
			ls.holdPublish(cs, f.o.frame, f.o.close, f.o.pos)
			f.n++
			continue
		}
		if f.o.frame != nil {
			ls.writeFrame(cs, f.o.frame)
		}
		if f.o.close {
			ls.endStream(cs, ReasonServerClosed, now)
		}
		f.n++
	}
	if f.i < f.end {
		return
	}
	ls.fanout = nil
	f.list.busy = false
	ls.tidy(f.list)
	fanoutSize.Update(float64(f.n))
	f.o.res.conns.Add(f.n)
	releaseFrame(&f.o)
	f.o.w.finish()
}
