package loop

// StepView is what a step hook sees of its loop at the start of a step.
type StepView struct {
	FanoutLeft     int    // subscribers the fan-out in progress has yet to reach (0: none in progress)
	QueuedConnects int    // connect results posted to the loop and not applied yet
	ConnectsAhead  uint64 // connect results applied ahead of a fan-out so far
}

// SetStepHook runs f on the loop goroutine at the start of every step (nil:
// none); view reads the loop's state at the time of the call. f may block to
// hold the loop at a known point.
func SetStepHook(f func(view func() StepView)) {
	if f == nil {
		stepHook.Store(nil)
		return
	}
	h := func(ls *loopState) { f(ls.view) }
	stepHook.Store(&h)
}

func (ls *loopState) view() StepView {
	v := StepView{ConnectsAhead: ls.counters.connectsAhead.Load()}
	if f := ls.fanout; f != nil {
		v.FanoutLeft = f.end - f.i
	}
	ls.inboxMu.Lock()
	defer ls.inboxMu.Unlock()
	for _, ops := range [][]op{ls.work, ls.inbox} {
		for i := range ops {
			if ops[i].kind == opConnectResult {
				v.QueuedConnects++
			}
		}
	}
	return v
}
