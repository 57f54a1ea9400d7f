package casework

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"sealvault/internal/identity"
	"sealvault/seal"
	"sealvault/vault"
)

// Sealing is the case regime as the seal regime sees it (seal.Cases).
type Sealing struct{ S *Service }

var _ seal.Cases = Sealing{}

// Sealable implements seal.Cases: the case is decided (or sealed already, for a further copy),
// the document is one of its result documents, the user's department may see the case, and
// the user holds the seal power for its item (受审分离 for promised items). The seal regime
// then checks the seal itself (its status, and the letter covering it).
//
// On a transaction the case row stays locked until the transaction ends, so that the case
// cannot change before the use is recorded. A case already sealed is locked shared: further
// copies of one case are sealed side by side, each holding off a change of the case (its
// delivery, say) until it commits. A case not yet sealed is locked exclusively, as the first
// use moves it to sealed (Sealed): two first uses take turns rather than both holding the
// row shared and then each waiting for the other to let go of it.
func (x Sealing) Sealable(ctx context.Context, db vault.Querier, id uuid.UUID, user identity.User, document string) (seal.CaseFacts, error) {
	lock := ""
	if _, ok := db.(pgx.Tx); ok {
		var state string
		err := db.QueryRow(ctx, `SELECT state FROM cases WHERE id = $1`, id).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return seal.CaseFacts{}, seal.ErrNotFound
		} else if err != nil {
			return seal.CaseFacts{}, fmt.Errorf("casework: case: %w", err)
		}
		// A sealed case is never decided again, so a row read sealed and then locked
		// shared is sealed or past it (then refused below), never one to move.
		lock = "FOR UPDATE OF c"
		if state == Sealed {
			lock = "FOR SHARE OF c"
		}
	}
	r, kind, err := getRowWithDocument(ctx, db, id, document, lock)
	if errors.Is(err, ErrNotFound) {
		return seal.CaseFacts{}, seal.ErrNotFound
	} else if err != nil {
		return seal.CaseFacts{}, err
	}
	if user.DepartmentID != r.dept && user.DepartmentID != r.owner {
		return seal.CaseFacts{}, seal.ErrNotFound
	}
	facts := seal.CaseFacts{CaseNo: r.caseNo, ItemCode: r.item, DepartmentID: r.dept}
	if r.state != Decided && r.state != Sealed {
		return facts, seal.NewRefusal("case-not-decided",
			fmt.Sprintf("case %s is %s: a seal is applied only to the result of a decided case", r.caseNo, r.state),
			fmt.Sprintf("办件 %s 当前状态为「%s」：只有已作出决定的办件才能对其结果文书用印", r.caseNo, stateNames[r.state]))
	}
	if kind == nil {
		return facts, seal.NewRefusal("not-case-document",
			fmt.Sprintf("document %s… is not a result document of case %s: name it as the case's result or decision letter first", document[:12], r.caseNo),
			fmt.Sprintf("文件 %s… 不是办件 %s 的结果文书：请先登记为该办件的结果文书或决定书", document[:12], r.caseNo))
	}
	if _, err := x.S.holds(ctx, db, user, r, powerSeal); err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			return facts, seal.NewRefusal(ref.Rule, ref.Detail, ref.DetailZh)
		}
		return facts, err
	}
	return facts, nil
}

// Sealed implements seal.Cases: the first use moves the case to sealed; every use's output
// becomes a document of the case (it may be sealed again, by another seal). It follows
// Sealable on tx, whose lock on the case row it relies on: exclusive when the case is still
// to move to sealed.
func (x Sealing) Sealed(ctx context.Context, tx pgx.Tx, a seal.Actor, id uuid.UUID, use, output string) error {
	// One round trip: the output joins the case's documents as the case row is read (the
	// share lock is Sealable's, or held under its exclusive one).
	var r row
	err := tx.QueryRow(ctx, `WITH d AS (
			INSERT INTO case_documents (case_id, digest, kind, name, added_by, added_at)
			VALUES ($1, $2, 'sealed', $3, $4, $5) ON CONFLICT (case_id, digest) DO NOTHING)
		SELECT `+rowColumns+` FROM cases c JOIN service_items i ON i.code = c.item_code WHERE c.id = $1 FOR SHARE OF c`,
		id, output, use+".pdf", a.User.ID, x.S.now()).Scan(r.fields()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("casework: sealed: %w", err)
	}
	if r.state == Sealed {
		return nil
	}
	return x.S.transition(ctx, tx, a, r, Sealed, use, "case.sealed", map[string]any{"use": use})
}
