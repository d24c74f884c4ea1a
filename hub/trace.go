package hub

import "time"

// EventKind is what an Event reports.
type EventKind int

// Event kinds, in the order a download emits them.
const (
	EventResolve  EventKind = iota + 1 // a slug was resolved to Event.ID
	EventWait                          // waiting for another process that holds the item's lock
	EventStart                         // a download (attempt) starts: Total bytes (-1 unknown), Completed = resumed offset
	EventProgress                      // Completed bytes so far of Total
	EventRetry                         // attempt Attempt failed with Err; the next one starts after Wait
	EventVerify                        // the download is complete and being verified
	EventDone                          // the item is installed at Path (or was already)
	EventPublish                       // the item was published to Client.Store (or failed to: Err)
)

func (k EventKind) String() string {
	switch k {
	case EventResolve:
		return "resolve"
	case EventWait:
		return "wait"
	case EventStart:
		return "start"
	case EventProgress:
		return "progress"
	case EventRetry:
		return "retry"
	case EventVerify:
		return "verify"
	case EventDone:
		return "done"
	case EventPublish:
		return "publish"
	}
	return "unknown"
}

// Event is one step of a pull, reported through Client.Trace. Events of one
// pull arrive in order, on the pulling goroutine.
type Event struct {
	Kind EventKind
	// Item names what is being pulled: "program <id>" or "runtime <id>".
	Item string
	// Ref is the reference the caller asked for; ID the program or runtime id.
	Ref, ID string
	// Total is the download size in bytes (-1 when unknown); Completed the
	// bytes on disk so far.
	Total, Completed int64
	// Attempt (1-based), Wait and Err describe a retry.
	Attempt int
	Wait    time.Duration
	Err     error
	// Path is where the item is installed (EventDone).
	Path string
	// Cached is set on EventDone when nothing had to be downloaded.
	Cached bool
}
