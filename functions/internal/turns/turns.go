// Package turns lets callers take turns per key, first come first served: at most one holds
// a key's turn at a time, and the others wait in the order they asked.
//
// It is a fairness device, not a lock anything relies on: the database's row locks keep the
// data right. A queue in the process is fair where PostgreSQL's wait for a row lock is not
// (a backend that asks just as the lock is released can take it ahead of one that has waited
// for long), and it costs a wake-up of a goroutine instead of a backend's.
package turns

import (
	"context"
	"sync"
)

// Queues holds one queue per key; the zero value is ready to use. A key's queue exists only
// while someone holds or waits for its turn.
type Queues struct {
	mu     sync.Mutex
	queues map[string]*queue
}

type queue struct {
	turn  chan struct{} // holds a value while someone has the turn
	users int           // holders and waiters; guarded by Queues.mu
}

// Wait blocks until it is the caller's turn on key, or ctx ends (then it returns ctx's
// error and the caller holds nothing). done ends the turn; call it exactly once.
func (q *Queues) Wait(ctx context.Context, key string) (done func(), err error) {
	q.mu.Lock()
	if q.queues == nil {
		q.queues = map[string]*queue{}
	}
	k := q.queues[key]
	if k == nil {
		k = &queue{turn: make(chan struct{}, 1)}
		q.queues[key] = k
	}
	k.users++
	q.mu.Unlock()
	// Senders blocked on a full channel are served in the order they blocked, and a value
	// taken out of it is replaced by the first waiter's at once: no one overtakes.
	select {
	case k.turn <- struct{}{}:
		return func() { <-k.turn; q.leave(key, k) }, nil
	case <-ctx.Done():
		q.leave(key, k)
		return nil, ctx.Err()
	}
}

func (q *Queues) leave(key string, k *queue) {
	q.mu.Lock()
	if k.users--; k.users == 0 {
		delete(q.queues, key)
	}
	q.mu.Unlock()
}

// Len is the number of keys someone holds or waits for.
func (q *Queues) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queues)
}
