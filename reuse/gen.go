package reuse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GenSpec sizes a generated reuse data set. The same spec and seed give the same rows,
// except for ids and timestamps PostgreSQL assigns.
type GenSpec struct {
	Materials int // materials rows
	Holders   int // distinct holders the materials are spread over (round robin)
	Types     int // material types; the first fifth are the common ones
	Rules     int // reuse rules
	Items     int // service items, 10 materials each (fewer if Types < 10)
	Seed      int64
}

// genBatch is the number of materials rows one INSERT ... SELECT writes.
const genBatch = 1_000_000

// GenHolderLookup is the holder_lookup of generated holder i: the hex SHA-256 of
// "holder-<i>". Generated rows use it, so a benchmark can find a holder's materials.
func GenHolderLookup(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "holder-%d", i))
	return hex.EncodeToString(sum[:])
}

// Generate fills an empty, migrated database with a synthetic department tree (service
// centers at two levels with departments under each), one staff user, the material types,
// service items, reuse rules and materials of spec, for benchmarks. It is not for a
// database holding real data: to load quickly it drops the secondary indexes of materials
// and builds them again afterwards. progress, if not nil, is called after each batch of
// materials with the rows written so far and the total.
func Generate(ctx context.Context, db *pgxpool.Pool, spec GenSpec, progress func(done, total int64)) error {
	if spec.Types < 1 || spec.Holders < 1 || spec.Items < 0 || spec.Rules < 0 || spec.Materials < 0 {
		return fmt.Errorf("reuse: generate: invalid spec %+v", spec)
	}
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("reuse: generate: %w", err)
	}
	defer conn.Release()
	g := &generator{conn: conn.Conn(), spec: spec, rnd: rand.New(rand.NewPCG(uint64(spec.Seed), 0x5ea1))}
	for _, step := range []func(context.Context) error{g.makeDepartments, g.makeUser, g.makeTypes, g.makeItems, g.makeRules} {
		if err := step(ctx); err != nil {
			return fmt.Errorf("reuse: generate: %w", err)
		}
	}
	if err := g.makeMaterials(ctx, progress); err != nil {
		return fmt.Errorf("reuse: generate: materials: %w", err)
	}
	return nil
}

type generator struct {
	conn  *pgx.Conn
	spec  GenSpec
	rnd   *rand.Rand
	depts []uuid.UUID
	user  uuid.UUID
	types []string
	items []string
}

// makeDepartments makes one city center with six departments and three district centers
// under it with six departments each, so every sharing scope has something to decide.
func (g *generator) makeDepartments(ctx context.Context) error {
	add := func(code, name, kind, level string, parent *uuid.UUID) (uuid.UUID, error) {
		var id uuid.UUID
		err := g.conn.QueryRow(ctx, `INSERT INTO departments (code, name, kind, level, parent_id)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, code, name, kind, level, parent).Scan(&id)
		g.depts = append(g.depts, id)
		return id, err
	}
	city, err := add("gen-c0", "Generated city center", "center", "city", nil)
	if err != nil {
		return err
	}
	centers := []uuid.UUID{city}
	for c := 1; c <= 3; c++ {
		id, err := add(fmt.Sprintf("gen-c%d", c), fmt.Sprintf("Generated district center %d", c), "center", "district", &city)
		if err != nil {
			return err
		}
		centers = append(centers, id)
	}
	for c, center := range centers {
		level := map[bool]string{true: "city", false: "district"}[c == 0]
		for d := 1; d <= 6; d++ {
			if _, err := add(fmt.Sprintf("gen-c%d-d%d", c, d), fmt.Sprintf("Generated department %d-%d", c, d),
				"department", level, &center); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *generator) makeUser(ctx context.Context) error {
	return g.conn.QueryRow(ctx, `INSERT INTO users (username, display_name, department_id, roles, password_hash)
		VALUES ('gen-creator', 'Generated creator', $1, '{admin,window}', '!') RETURNING id`, g.depts[0]).Scan(&g.user)
}

func (g *generator) makeTypes(ctx context.Context) error {
	b := &pgx.Batch{}
	for i := range g.spec.Types {
		code := fmt.Sprintf("GT%03d", i+1)
		g.types = append(g.types, code)
		var validity string
		var months *int
		switch i % 3 {
		case 0:
			validity = ValidUntilExpiry
		case 1:
			validity, months = ValidFixedPeriod, new([]int{3, 6, 12}[i%9/3])
		default:
			validity = ValidLongTerm
		}
		b.Queue(`INSERT INTO material_types (code, name, holder_kind, original_required, validity, validity_months, shareable)
			VALUES ($1, $2, 'person', $3, $4, $5, $6)`,
			code, "Generated type "+code, i%4 == 0, validity, months, i%10 != 9)
	}
	return g.conn.SendBatch(ctx, b).Close()
}

// common is how many of the types are common (every item lists a few of them, and half of
// the materials are of them).
func (g *generator) common() int { return max(1, g.spec.Types/5) }

func (g *generator) makeItems(ctx context.Context) error {
	b := &pgx.Batch{}
	n := min(10, len(g.types))
	for i := range g.spec.Items {
		code := fmt.Sprintf("GI%03d", i+1)
		g.items = append(g.items, code)
		b.Queue(`INSERT INTO service_items (code, name, department_id) VALUES ($1, $2, $3)`,
			code, "Generated item "+code, g.depts[g.rnd.IntN(len(g.depts))])
		// Three or four common types, the rest from the others.
		picked := map[int]bool{}
		var list []int
		pick := func(lo, hi int) {
			for {
				k := lo + g.rnd.IntN(hi-lo)
				if !picked[k] {
					picked[k] = true
					list = append(list, k)
					return
				}
			}
		}
		nCommon := min(g.common(), 3+g.rnd.IntN(2))
		for range min(nCommon, n) {
			pick(0, g.common())
		}
		for len(list) < n {
			if g.common() < len(g.types) {
				pick(g.common(), len(g.types))
			} else {
				pick(0, len(g.types))
			}
		}
		g.rnd.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
		for pos, k := range list {
			b.Queue(`INSERT INTO item_materials (item_code, type_code, position, required, reuse_accepted)
				VALUES ($1, $2, $3, $4, $5)`, code, g.types[k], pos+1, g.rnd.IntN(5) != 0, g.rnd.IntN(10) != 0)
		}
	}
	return g.conn.SendBatch(ctx, b).Close()
}

// makeRules makes rules of mixed scopes, methods and conditions; three in five are for the
// common types, one in five is narrowed to an item, one in ten to a department, and one in
// twenty is retired.
func (g *generator) makeRules(ctx context.Context) error {
	b := &pgx.Batch{}
	scopes := []string{ScopeDepartment, ScopeCenter, ScopeLevel, ScopeCrossLevel}
	for range g.spec.Rules {
		var typ string
		if g.rnd.IntN(5) < 3 {
			typ = g.types[g.rnd.IntN(g.common())]
		} else {
			typ = g.types[g.rnd.IntN(len(g.types))]
		}
		var item *string
		if g.rnd.IntN(5) == 0 && len(g.items) > 0 {
			item = &g.items[g.rnd.IntN(len(g.items))]
		}
		var dept *uuid.UUID
		if g.rnd.IntN(10) == 0 {
			dept = &g.depts[g.rnd.IntN(len(g.depts))]
		}
		var maxAge *int
		if g.rnd.IntN(3) == 0 {
			maxAge = new([]int{90, 180, 365, 730}[g.rnd.IntN(4)])
		}
		method := MethodReference
		if k := g.rnd.IntN(10); k >= 7 {
			method = map[bool]string{true: MethodView, false: MethodDownload}[k < 9]
		}
		b.Queue(`INSERT INTO reuse_rules (type_code, item_code, department_id, max_age_days, within_validity,
				original_required, consent_required, scope, method, created_by, retired_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $11 THEN now() END)`,
			typ, item, dept, maxAge, g.rnd.IntN(10) < 7, g.rnd.IntN(10) < 3, g.rnd.IntN(5) == 0,
			scopes[g.rnd.IntN(len(scopes))], method, g.user, g.rnd.IntN(20) == 0)
	}
	return g.conn.SendBatch(ctx, b).Close()
}

// genMaterialsSQL writes materials $1..$2 of the series. Row i belongs to holder i mod $3;
// its type, dates, department and flags come from hashes of i under the seed $4, so a
// batch needs no data from the client. Half the rows are of the common types ($6 of $5).
// captured_at is spread over the last three years; about one row in ten is long-term, and
// seven in ten have an expiry one to five years after issue, so some have expired.
const genMaterialsSQL = `
	INSERT INTO materials (holder_kind, holder_lookup, holder_sealed, holder_masked, type_code, title, page_count,
		source, issued_on, valid_until, long_term, captured_by, captured_at, department_id, original_verified,
		content_digest, content_type, content_size)
	SELECT 'id_card', encode(sha256(convert_to('holder-' || h, 'UTF8')), 'hex'), '\x00'::bytea, '1101**********000X',
		($5::text[])[1 + CASE WHEN r1 % 2 = 0 THEN (r1 / 2) % $6 ELSE $6 + (r1 / 2) % greatest(cardinality($5::text[]) - $6, 1) END],
		'Generated material ' || i, 1 + r4 % 5, 'scan',
		issued, CASE WHEN r3 % 10 BETWEEN 1 AND 7 THEN issued + (365 * (1 + r3 / 10 % 5))::int END, r3 % 10 = 0,
		$8, captured, ($7::uuid[])[1 + r4 / 5 % cardinality($7::uuid[])], r4 % 5 <> 0,
		lpad(to_hex(i), 64, '0'), 'application/pdf', 100000 + r4 % 900000
	FROM (
		SELECT i, h, r1, r3, r4, captured, (captured - make_interval(days => (r3 / 50 % 60)::int))::date AS issued
		FROM (
			SELECT i, i % $3 AS h,
				hashint8extended(i, $4) & 9223372036854775807 AS r1,
				hashint8extended(i, $4 + 1) & 9223372036854775807 AS r2,
				hashint8extended(i, $4 + 2) & 9223372036854775807 AS r3,
				hashint8extended(i, $4 + 3) & 9223372036854775807 AS r4
			FROM generate_series($1::bigint, $2::bigint) i
		) h, LATERAL (SELECT now() - make_interval(secs => (r2 % (3 * 365 * 86400))::double precision) AS captured) c
	) g`

// makeMaterials loads the materials rows in batches, then supersedes one in 200 of them with a
// new version and revokes one in 500 (of all, old versions included), so the plan's status filters have work to do.
func (g *generator) makeMaterials(ctx context.Context, progress func(done, total int64)) error {
	rows, err := g.conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'materials'
		  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'materials'::regclass)`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		err := r.Scan(&ix.name, &ix.def)
		return ix, err
	})
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := g.conn.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix.name}.Sanitize()); err != nil {
			return err
		}
	}
	total := int64(g.spec.Materials)
	seed := g.spec.Seed
	for lo := int64(0); lo < total; lo += genBatch {
		hi := min(lo+genBatch, total) - 1
		if _, err := g.conn.Exec(ctx, genMaterialsSQL, lo, hi, g.spec.Holders, seed, g.types, g.common(), g.depts, g.user); err != nil {
			return fmt.Errorf("rows %d-%d: %w", lo, hi, err)
		}
		if progress != nil {
			progress(hi+1, total)
		}
	}
	if _, err := g.conn.Exec(ctx, `
		INSERT INTO materials (holder_kind, holder_lookup, holder_sealed, holder_masked, type_code, title, page_count,
			source, issued_on, valid_until, long_term, captured_by, captured_at, department_id, original_verified,
			supersedes, content_digest, content_type, content_size)
		SELECT holder_kind, holder_lookup, holder_sealed, holder_masked, type_code, title || ' (corrected)', page_count,
			source, issued_on, valid_until, long_term, captured_by, captured_at + interval '1 day', department_id,
			original_verified, id, content_digest, content_type, content_size
		FROM materials WHERE hashtext(id::text) % 200 = 0`); err != nil {
		return fmt.Errorf("versions: %w", err)
	}
	if _, err := g.conn.Exec(ctx, `INSERT INTO material_revocations (material_id, revoked_by, reason)
		SELECT id, $1, 'generated revocation' FROM materials WHERE hashtext(id::text) % 500 = 0`, g.user); err != nil {
		return fmt.Errorf("revocations: %w", err)
	}
	if _, err := g.conn.Exec(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := g.conn.Exec(ctx, ix.def); err != nil {
			return fmt.Errorf("index %s: %w", ix.name, err)
		}
	}
	if _, err := g.conn.Exec(ctx, `RESET maintenance_work_mem`); err != nil {
		return err
	}
	_, err = g.conn.Exec(ctx, `VACUUM (ANALYZE) materials, material_revocations, reuse_rules, item_materials, material_types, departments`)
	return err
}
