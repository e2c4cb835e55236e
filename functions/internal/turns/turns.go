// Package turns lets callers take turns per key, first come first served: at most Width hold
// a key's turn at a time (one unless set), and the others wait in the order they asked.
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
// while someone holds or waits for its turn. The order is that in which callers took mu:
// a waiter joins its queue and is handed the turn under mu, so no one overtakes.
type Queues struct {
	// Width is how many may hold a key's turn at once; 0 means 1.
	Width int

	mu     sync.Mutex
	queues map[string]*queue
}

func (q *Queues) width() int { return max(q.Width, 1) }

// queue is one key's: how many hold the turn, and who waits for it, first first. Each
// waiter's channel is closed when the turn is handed to it.
type queue struct {
	holders int
	waiting []chan struct{}
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
		k = &queue{}
		q.queues[key] = k
	}
	done = func() { q.pass(key, k) }
	if k.holders < q.width() && len(k.waiting) == 0 {
		k.holders++
		q.mu.Unlock()
		return done, nil
	}
	mine := make(chan struct{})
	k.waiting = append(k.waiting, mine)
	q.mu.Unlock()
	select {
	case <-mine:
		return done, nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	for i, w := range k.waiting {
		if w == mine { // still waiting: leave the queue
			k.waiting = append(k.waiting[:i], k.waiting[i+1:]...)
			q.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	q.mu.Unlock()
	// The turn was handed over as ctx ended: hand it on.
	done()
	return nil, ctx.Err()
}

// pass ends the turn on key: the first waiter gets it, or the queue goes.
func (q *Queues) pass(key string, k *queue) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(k.waiting) == 0 {
		k.holders--
		if k.holders == 0 {
			delete(q.queues, key)
		}
		return
	}
	next := k.waiting[0]
	k.waiting = k.waiting[1:]
	close(next)
}

// Len is the number of keys someone holds or waits for.
func (q *Queues) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.queues)
}
