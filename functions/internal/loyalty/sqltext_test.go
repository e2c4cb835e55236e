package loyalty

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBuiltSQLBuildsEachTextOnceAndAnswersItForItsKey(t *testing.T) {
	var builds atomic.Int64
	texts := newBuiltSQL(func(n int) string {
		builds.Add(1)
		return "SELECT " + strconv.Itoa(n)
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if got, want := texts.text(i%3), "SELECT "+strconv.Itoa(i%3); got != want {
					t.Errorf("text(%d) = %q, want %q", i%3, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Goroutines that ask for a new key at once may each build it (one text is kept); after
	// that, no key is built again.
	before := builds.Load()
	if before < 3 || before > 3*8 {
		t.Fatalf("built %d times for 3 keys from 8 goroutines", before)
	}
	for i := range 3 {
		texts.text(i)
	}
	if builds.Load() != before {
		t.Fatalf("built again: %d builds, %d before", builds.Load(), before)
	}
}

// The statements built from fragments are those the functions sent before they were kept:
// the member's read with and without its lock, which the lock's clause alone tells apart.
func TestMemberSQLLocksOnlyWhenAsked(t *testing.T) {
	locked, plain := memberSQL.text(memberRead{`m.id = $1`, true}), memberSQL.text(memberRead{`m.id = $1`, false})
	if locked != plain+` FOR NO KEY UPDATE OF m` {
		t.Fatalf("locked read %q is not the plain read %q with its lock", locked, plain)
	}
}
