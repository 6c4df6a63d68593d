package registration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

type method string

func (m method) ID() string                                                 { return string(m) }
func (method) Serves(kind flow.Kind) bool                                   { return kind == flow.Registration }
func (method) AddNodes(context.Context, *flow.Flow, flow.NodeContext) error { return nil }
func (method) Submit(context.Context, *flow.Submission) (*flow.Outcome, error) {
	return &flow.Outcome{}, nil
}

// TestCheckCodeCommitsOnlyRefusals: a code that would be accepted is tried
// and rolled back (it is spent on completion); a refused one keeps what
// its redemption wrote (the attempt counts) unless the refusal asks to be
// undone; without web hooks nothing is tried ahead.
func TestCheckCodeCommitsOnlyRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		hooked := hook.NewRunner("registration", nil, map[string][]config.Hook{"code": {{Name: hook.WebHook}}},
			map[string]hook.Hook{hook.WebHook: hook.Func(func(context.Context, *store.Q, *hook.Event) error { return nil })})
		h := &Handler{kit: &flow.Kit{Store: s}, opts: Options{Hooks: hooked}}
		ctx := context.Background()

		// redeem writes a row, as counting an attempt does, and answers
		// with answer.
		written := func(id uuid.UUID) bool {
			var n int
			if err := s.Read().QueryRow(ctx, `SELECT COUNT(*) FROM selfservice_errors WHERE id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == 1
		}
		redeem := func(id uuid.UUID, answer error) func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
			return func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
				now := time.Now().UTC()
				if _, err := q.Exec(ctx, `INSERT INTO selfservice_errors (id, error, created_at, updated_at) VALUES ($1, '{}', $2, $3)`, id, now, now); err != nil {
					return nil, err
				}
				if answer != nil {
					return nil, answer
				}
				return &onetime.Code{ID: id}, nil
			}
		}

		accepted := uuid.New()
		refused, err := h.checkCode(submission(ctx), method("code"), &flow.Outcome{Redeem: redeem(accepted, nil)})
		if refused != nil || err != nil || written(accepted) {
			t.Errorf("an accepted code: refused %v, err %v, kept %v; want nothing, rolled back", refused, err, written(accepted))
		}

		wrong := uuid.New()
		refusal := &flow.Refusal{Cause: onetime.ErrInvalid, Message: text.RegistrationCodeInvalid()}
		refused, err = h.checkCode(submission(ctx), method("code"), &flow.Outcome{Redeem: redeem(wrong, refusal)})
		if refused != refusal || err != nil || !written(wrong) {
			t.Errorf("a wrong code: refused %v, err %v, kept %v; want the refusal, committed", refused, err, written(wrong))
		}

		undone := uuid.New()
		undo := &flow.Refusal{Cause: onetime.ErrInvalid, Undo: true}
		refused, err = h.checkCode(submission(ctx), method("code"), &flow.Outcome{Redeem: redeem(undone, undo)})
		if refused != undo || err != undo || written(undone) {
			t.Errorf("an undone refusal: refused %v, err %v, kept %v; want the refusal, rolled back", refused, err, written(undone))
		}

		// No web hook for the method, or nothing to redeem: nothing runs.
		unhooked := &Handler{kit: &flow.Kit{Store: s}, opts: Options{Hooks: hook.NewRunner("registration", nil, nil, nil)}}
		called := false
		spy := func(context.Context, *store.Q) (*onetime.Code, error) { called = true; return nil, nil }
		if refused, err := unhooked.checkCode(submission(ctx), method("code"), &flow.Outcome{Redeem: spy}); refused != nil || err != nil || called {
			t.Errorf("without web hooks: refused %v, err %v, redeemed %v", refused, err, called)
		}
		if refused, err := h.checkCode(submission(ctx), method("password"), &flow.Outcome{Redeem: spy}); refused != nil || err != nil || called {
			t.Errorf("a method without web hooks: refused %v, err %v, redeemed %v", refused, err, called)
		}
		if refused, err := h.checkCode(submission(ctx), method("code"), &flow.Outcome{}); refused != nil || err != nil {
			t.Errorf("nothing to redeem: refused %v, err %v", refused, err)
		}
	})
}

func submission(ctx context.Context) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/self-service/registration", nil).WithContext(ctx)
}
