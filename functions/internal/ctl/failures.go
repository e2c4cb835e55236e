package ctl

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/replay"
)

// FailuresListOptions are the flags and dependencies of failures list.
type FailuresListOptions struct {
	F     *Factory
	All   bool
	Limit int
	JSON  bool
}

func NewCmdFailuresList(f *Factory, runF func(context.Context, *FailuresListOptions) error) *cobra.Command {
	opts := &FailuresListOptions{F: f}
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the open failed trigger deliveries (trigger_failures)",
		Example: "  loyaltyctl failures list\n  loyaltyctl failures list --all --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit <= 0 {
				return flagErrorf("--limit must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return failuresListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "include resolved failures")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many, newest first")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the failures as JSON")
	return cmd
}

func failuresListRun(ctx context.Context, opts *FailuresListOptions) error {
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	fs, err := replay.List(ctx, db, opts.All, opts.Limit)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.F.IO.Out, fs)
	}
	rows := make([][]string, len(fs))
	for i, f := range fs {
		state := "open"
		if f.ResolvedAt != nil {
			state = "resolved " + f.ResolvedAt.UTC().Format(time.RFC3339)
		}
		rows[i] = []string{strconv.FormatInt(f.ID, 10), f.Trigger, f.DeliveryID, strconv.Itoa(f.Status),
			strconv.Itoa(f.Attempts), f.LastFailedAt.UTC().Format(time.RFC3339), state, truncate(f.Error, 60)}
	}
	return table(opts.F.IO.Out, []string{"ID", "TRIGGER", "DELIVERY", "STATUS", "ATTEMPTS", "LAST FAILED", "STATE", "ERROR"}, rows)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// FailuresReplayOptions are the flags and dependencies of failures replay.
type FailuresReplayOptions struct {
	F    *Factory
	IDs  []int64
	JSON bool
}

func NewCmdFailuresReplay(f *Factory, runF func(context.Context, *FailuresReplayOptions) error) *cobra.Command {
	opts := &FailuresReplayOptions{F: f}
	cmd := &cobra.Command{
		Use:   "replay ID...",
		Short: "Deliver failed trigger deliveries to their handlers again, as Hasura would",
		Long: `Posts each stored delivery to FUNCTIONS_BASE_URL/<trigger> with X-Action-Secret set from
ACTION_SECRET. A 2xx answer marks the failure resolved; any other answer is printed and the
failure stays open. Every id is replayed, also after one that fails, and each is reported
(with --json, a list with an error object for each id that could not be delivered); exit 1
when any did not resolve. Handlers are idempotent on the delivery id, so a replay of a delivery that
did land does nothing twice.`,
		Example: "  loyaltyctl failures replay 17 18",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return flagErrorf("want one or more failure IDs (loyaltyctl failures list shows them)")
			}
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil || id <= 0 {
					return flagErrorf("%q is not a failure ID", a)
				}
				opts.IDs = append(opts.IDs, id)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return failuresReplayRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the answers as JSON")
	return cmd
}

// replayAnswer is what the replay of one id did: the handler's answer, or why there was none.
type replayAnswer struct {
	replay.Result
	Error *jsonError `json:"error,omitempty"`
}

func failuresReplayRun(ctx context.Context, opts *FailuresReplayOptions) error {
	base, secret := opts.F.Getenv("FUNCTIONS_BASE_URL"), opts.F.Getenv("ACTION_SECRET")
	if base == "" || secret == "" {
		return &Error{Code: "config", Message: "FUNCTIONS_BASE_URL and ACTION_SECRET must be set"}
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	r := replay.Replayer{DB: db, Client: opts.F.HTTPClient, BaseURL: base, Secret: secret}
	answers := []replayAnswer{}
	resolved := 0
	// Each id on its own: one that fails does not keep the others from being delivered.
	for _, id := range opts.IDs {
		res, err := r.Replay(ctx, id)
		a := replayAnswer{Result: res}
		a.ID = id
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			code := codeOf(err)
			if errors.Is(err, replay.ErrNotFound) {
				code = "not_found"
			}
			a.Error = &jsonError{Code: code, Message: err.Error()}
		} else if res.Resolved {
			resolved++
		}
		answers = append(answers, a)
		if opts.JSON {
			continue
		}
		switch {
		case a.Error != nil:
			fprintf(opts.F.IO.Out, "%d: error [%s]: %s\n", id, a.Error.Code, a.Error.Message)
		case res.Resolved:
			fprintf(opts.F.IO.Out, "%d %s %s: %d, resolved\n", id, res.Trigger, res.DeliveryID, res.Status)
		default:
			fprintf(opts.F.IO.Out, "%d %s %s: %d, still open: %s\n", id, res.Trigger, res.DeliveryID, res.Status, res.Body)
		}
	}
	if opts.JSON {
		if err := writeJSON(opts.F.IO.Out, answers); err != nil {
			return err
		}
	} else if len(answers) > 1 {
		fprintf(opts.F.IO.Out, "%d replayed: %d resolved, %d failed\n", len(answers), resolved, len(answers)-resolved)
	}
	if resolved < len(answers) {
		return errSilent
	}
	return nil
}
