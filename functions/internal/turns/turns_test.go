package turns

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waiters is how many hold or wait for key's turn.
func (q *Queues) waiters(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if k := q.queues[key]; k != nil {
		return len(k.waiting) + k.holders
	}
	return 0
}

// untilWaiting waits until n hold or wait for key's turn.
func untilWaiting(t *testing.T, q *Queues, key string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); q.waiters(key) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d wait for %q, want %d", q.waiters(key), key, n)
		}
	}
}

func TestTurnsAreServedInTheOrderAsked(t *testing.T) {
	var q Queues
	ctx := context.Background()
	first, err := q.Wait(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := q.Wait(ctx, "m")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			done()
		}()
		untilWaiting(t, &q, "m", i+2) // waiter i is queued before waiter i+1 asks
	}
	first()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("turns in order %v, want 0..%d", order, n-1)
		}
	}
	if q.Len() != 0 {
		t.Errorf("%d queues left after everyone was served, want 0", q.Len())
	}
}

func TestOneTurnAtATimePerKeyAndKeysAreIndependent(t *testing.T) {
	var q Queues
	ctx := context.Background()
	doneA, err := q.Wait(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	doneB, err := q.Wait(ctx, "b") // another key: not blocked by a's holder
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		done, err := q.Wait(ctx, "a")
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		close(got)
		done()
	}()
	untilWaiting(t, &q, "a", 2)
	select {
	case <-got:
		t.Fatal("a second caller got a's turn while the first held it")
	default:
	}
	doneA()
	<-got
	doneB()
	untilWaiting(t, &q, "a", 0)
	if q.Len() != 0 {
		t.Errorf("%d queues left, want 0", q.Len())
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	var q Queues
	done, err := q.Wait(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := q.Wait(ctx, "m")
		errc <- err
	}()
	untilWaiting(t, &q, "m", 2)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v, want context.Canceled", err)
	}
	untilWaiting(t, &q, "m", 1) // the one that gave up left the queue
	done()
	// The turn is free again: the one who gave up holds nothing.
	next, err := q.Wait(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	next()
	if q.Len() != 0 {
		t.Errorf("%d queues left, want 0", q.Len())
	}
}

func TestWidthLetsThatManyHoldATurnAndTheRestWaitInOrder(t *testing.T) {
	q := Queues{Width: 2}
	ctx := context.Background()
	hold := make(chan struct{}) // the waiters keep their turns until the test ends
	t.Cleanup(func() { close(hold) })
	first, err := q.Wait(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	second, err := q.Wait(ctx, "m") // the second holder: does not wait
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			done, err := q.Wait(ctx, "m")
			if err != nil {
				t.Error(err)
				got <- -1
				return
			}
			got <- i
			<-hold
			done()
		}()
		untilWaiting(t, &q, "m", 3+i) // third asks before fourth
	}
	noTurnYet(t, got)
	second()
	if i := <-got; i != 0 {
		t.Fatalf("the first turn to free went to waiter %d, want 0 (the first to ask)", i)
	}
	noTurnYet(t, got)
	first()
	if i := <-got; i != 1 {
		t.Fatalf("the next turn went to waiter %d, want 1", i)
	}
}

// noTurnYet fails if a waiter reports a turn within a short while.
func noTurnYet(t *testing.T, got <-chan int) {
	t.Helper()
	select {
	case i := <-got:
		t.Fatalf("waiter %d got a turn while two held it", i)
	case <-time.After(20 * time.Millisecond):
	}
}
