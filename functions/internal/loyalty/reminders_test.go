package loyalty

import (
	"testing"
	"time"
)

func TestALotCursorReadsBackWhatItWroteAndStartsOverOnAnythingElse(t *testing.T) {
	at := time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)
	start := lotCursor{At: at, ID: "00000000-0000-0000-0000-000000000000"}
	done := lotCursor{At: time.Date(2026, 6, 6, 3, 0, 0, 123456000, time.UTC), ID: "01a23cf9-e648-761b-8cdb-cf4e184bcf47"}
	for name, tc := range map[string]struct {
		after string
		want  lotCursor
	}{
		"a new run":                       {"", start},
		"the last lot done":               {done.String(), done},
		"a member id an older build left": {"01a23cf9-e648-761b-8cdb-cf4e184bcf47", start},
		"a time without a lot":            {done.At.Format(time.RFC3339Nano) + "/", start},
		"something that is not a time":    {"yesterday/01a23cf9-e648-761b-8cdb-cf4e184bcf47", start},
	} {
		t.Run(name, func(t *testing.T) {
			if got := lotCursorOf(tc.after, at); !got.At.Equal(tc.want.At) || got.ID != tc.want.ID {
				t.Fatalf("lotCursorOf(%q) = %+v, want %+v", tc.after, got, tc.want)
			}
		})
	}
}
