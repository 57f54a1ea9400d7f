package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"sealvault/internal/identity"
	"sealvault/reuse"
	"sealvault/reuse/catalogfile"
	"sealvault/seal"
)

// demoLogin is one demo account printed at start.
type demoLogin struct {
	Role     identity.Role
	Username string
	Password string
	Name     string
}

// demoDepartments is a small realistic tree: a district service center under the city's,
// and three departments of the district.
var demoDepartments = []struct {
	code, name, kind, level, parent string
}{
	{"GZ-ZWFW", "广州市政务服务中心", identity.KindCenter, "city", ""},
	{"TH-ZWFW", "天河区政务服务中心", identity.KindCenter, "district", "GZ-ZWFW"},
	{"TH-SCJG", "天河区市场监督管理局", identity.KindDepartment, "district", "TH-ZWFW"},
	{"TH-ZJJ", "天河区住房和城乡建设局", identity.KindDepartment, "district", "TH-ZWFW"},
	{"TH-RSJ", "天河区人力资源和社会保障局", identity.KindDepartment, "district", "TH-ZWFW"},
	{"GZ-SCJG", "广州市市场监督管理局", identity.KindDepartment, "city", "GZ-ZWFW"},
}

// demoUsers holds one account per role. The passwords are public: demo data is for a local
// trial only and is never seeded unless --demo is given.
var demoUsers = []struct {
	username, name, dept string
	role                 identity.Role
	password             string
}{
	{"admin", "系统管理员 王敏", "TH-ZWFW", identity.RoleAdmin, "demo-admin-2026"},
	{"window", "综合窗口 李娜", "TH-ZWFW", identity.RoleWindow, "demo-window-2026"},
	{"sealer", "用印人 陈伟", "TH-SCJG", identity.RoleSealer, "demo-sealer-2026"},
	{"custodian", "印章保管人 张强", "TH-SCJG", identity.RoleCustodian, "demo-custodian-2026"},
	{"sealadmin", "印章管理员 刘洋", "TH-ZWFW", identity.RoleSealAdmin, "demo-sealadmin-2026"},
	{"auditor", "审计员 赵静", "TH-ZWFW", identity.RoleAuditor, "demo-auditor-2026"},
	{"supervisor", "中心负责人 周芳", "TH-ZWFW", identity.RoleSupervisor, "demo-supervisor-2026"},
	// A window clerk of the city's market regulator: another department, under another
	// center, with which the district center shares nothing by default.
	{"citywindow", "市局窗口 黄磊", "GZ-SCJG", identity.RoleWindow, "demo-citywindow-2026"},
}

// seedDemo creates the demo departments and accounts that do not exist yet, in one
// transaction; running it again adds nothing and changes nothing.
func seedDemo(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) ([]demoLogin, error) {
	created := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Serialise concurrent first starts of several processes.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sealvault.demo'))`); err != nil {
			return err
		}
		for _, d := range demoDepartments {
			if _, err := identity.DepartmentByCode(ctx, tx, d.code); err == nil {
				continue
			} else if !errors.Is(err, identity.ErrNotFound) {
				return err
			}
			nd := identity.NewDepartment{Code: d.code, Name: d.name, Kind: d.kind, Level: d.level}
			if d.parent != "" {
				p, err := identity.DepartmentByCode(ctx, tx, d.parent)
				if err != nil {
					return fmt.Errorf("demo parent %s: %w", d.parent, err)
				}
				nd.ParentID = &p.ID
			}
			if _, err := identity.CreateDepartment(ctx, tx, nd); err != nil {
				return err
			}
			created++
		}
		for _, u := range demoUsers {
			if _, err := identity.UserByUsername(ctx, tx, u.username); err == nil {
				continue
			} else if !errors.Is(err, identity.ErrNotFound) {
				return err
			}
			d, err := identity.DepartmentByCode(ctx, tx, u.dept)
			if err != nil {
				return fmt.Errorf("demo department %s: %w", u.dept, err)
			}
			if _, err := identity.CreateUser(ctx, tx, identity.NewUser{
				Username: u.username, DisplayName: u.name, DepartmentID: d.ID,
				Roles: []identity.Role{u.role}, Password: u.password,
			}); err != nil {
				return err
			}
			created++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}
	log.Info("demo data", "created", created)
	logins := make([]demoLogin, len(demoUsers))
	for i, u := range demoUsers {
		logins[i] = demoLogin{Role: u.role, Username: u.username, Password: u.password, Name: u.name}
	}
	return logins, nil
}

// printBanner tells a person at the terminal (w) where the service is and how to log in.
func printBanner(w io.Writer, addr string, logins []demoLogin, files demoFiles) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nsealvault is running at http://%s\n", addr)
	fmt.Fprintf(&b, "  workbench (工作台): open http://%s/ in a browser and log in with an account below\n", addr)
	fmt.Fprintf(&b, "  health: http://%s/readyz   API document: http://%s/api/v1/openapi.json\n", addr, addr)
	if len(logins) > 0 {
		b.WriteString("\nDemo accounts (演示账号) — log in at the workbench, or with POST /api/v1/auth/login:\n")
		fmt.Fprintf(&b, "  %-11s %-10s %-20s %s\n", "role", "username", "password", "name")
		for _, l := range logins {
			fmt.Fprintf(&b, "  %-11s %-10s %-20s %s\n", l.Role, l.Username, l.Password, l.Name)
		}
		fmt.Fprintf(&b, "\n  e.g. curl -s http://%s/api/v1/auth/login -H 'Content-Type: application/json' \\\n", addr)
		fmt.Fprintf(&b, "         -d '{\"username\":\"%s\",\"password\":\"%s\"}'\n", logins[0].Username, logins[0].Password)
		b.WriteString("\nDemo seals (演示印章) of 天河区市场监督管理局行政审批专用章, kept by custodian: S-1 ECDSA P-256\n" +
			"(PAdES), S-2 SM2/SM3 (GB/T 38540 electronic signature). Letter A-1 lets the window decide and seal\n" +
			"the instant item 440106-GTGSH-003 with either, each use approved; the promised item\n" +
			"440106-FOOD-004 is decided and sealed by sealer (README: \"A case from intake\").\n")
		fmt.Fprintf(&b, "  CA root for validators: http://%s/api/v1/ca/root.pem (SM2 root: /api/v1/ca/sm2-root.pem;\n"+
			"  both with their CRLs: /api/v1/ca/trust.pem)\n", addr)
		if files.Licence != "" {
			fmt.Fprintf(&b, "\nDemo applicant (演示申请人) ID card %s is on file (reusable). For the instant case in the\n"+
				"workbench: %s is a scanned application form, %s the licence to seal.\n", demoApplicant, files.Form, files.Licence)
		}
	}
	b.WriteString("\nPress Ctrl-C to stop.\n\n")
	fmt.Fprint(w, b.String())
}

// demoAuditEvents is how many audit events the demo data writes: each of the two seals'
// registration, image and activation, the three letters, one per demo reuse rule, and the
// recording of the demo applicant's ID card.
var demoAuditEvents = 10 + len(demoRules)

// seedDemoSeals registers, once, the business-special seal of the district market regulator
// (kept by the demo custodian, who is also its supervisor), with a demo image, active, and
// the regulator's letter delegating it to the district center's window for the food business
// licence item, each use needing approval. It acts as the demo seal administrator.
func seedDemoSeals(ctx context.Context, pool *pgxpool.Pool, seals *seal.Service, log *slog.Logger) error {
	const name = "天河区市场监督管理局行政审批专用章"
	// Serialise concurrent first starts: the lock is held on a connection of its own while
	// the seal service works through the pool.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('sealvault.demo.seals'))`); err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('sealvault.demo.seals'))`)
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM seals WHERE name = $1)`, name).Scan(&exists); err != nil || exists {
		return err
	}
	admin, err := identity.UserByUsername(ctx, pool, "sealadmin")
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	custodian, err := identity.UserByUsername(ctx, pool, "custodian")
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	owner, err := identity.DepartmentByCode(ctx, pool, "TH-SCJG")
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	center, err := identity.DepartmentByCode(ctx, pool, "TH-ZWFW")
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	// Each act has a request id of its own, as it would through the API.
	n := 0
	act := func() seal.Actor { n++; return seal.Actor{User: admin, RequestID: fmt.Sprintf("demo-seal-%d", n)} }
	now := time.Now()
	// S-1 is an ECDSA seal (PAdES signatures that pdfsig and Adobe validate); S-2 the same
	// department's seal of the national algorithms (SM2 with SM3: GB/T 38540 electronic
	// signatures), as a regulator moving to them keeps both for a while.
	var ids []uuid.UUID
	var refs []string
	for i, alg := range []string{"ecdsa-p256", "sm2"} {
		sl, err := seals.CreateSeal(ctx, act(), seal.NewSeal{Name: name, Type: seal.TypeBusiness, DepartmentID: owner.ID,
			SupervisorID: custodian.ID, CustodianIDs: []uuid.UUID{custodian.ID}, KeyAlgorithm: alg,
			ValidFrom: now.AddDate(0, 0, -30).Format(time.DateOnly), ValidUntil: now.AddDate(3, 0, 0).Format(time.DateOnly)})
		if err != nil {
			return fmt.Errorf("demo seals: %w", err)
		}
		// The image is drawn from the seal's data, as a center without a seal designer has it
		// drawn on filing: 天河区市场监督管理局 along the arc, 行政审批专用章 across, the seal's
		// code below.
		code := fmt.Sprintf("440106001234%d", 5+i)
		if _, err := seals.GenerateImage(ctx, act(), sl.ID, seal.Generate{Code: &code}); err != nil {
			return fmt.Errorf("demo seals: %w", err)
		}
		if _, err := seals.Transition(ctx, act(), sl.ID, seal.StatusActive, "演示数据：备案后启用"); err != nil {
			return fmt.Errorf("demo seals: %w", err)
		}
		ids, refs = append(ids, sl.ID), append(refs, sl.Ref)
	}
	// The instant item (即办件) is delegated whole to the center's window: receiving, the
	// decision, the business-special seal (each use approved by the custodian) and delivery.
	letter, err := seals.CreateAuthorization(ctx, act(), seal.NewAuthorization{GrantorDepartmentID: owner.ID,
		GranteeDepartmentID: center.ID, Items: []string{"440106-GTGSH-003"},
		Powers:  []string{seal.PowerReceive, seal.PowerDecide, seal.PowerSeal, seal.PowerDeliver},
		SealIDs: ids, ValidFrom: now.AddDate(0, 0, -1).Format(time.DateOnly),
		ValidUntil: now.AddDate(1, 0, 0).Format(time.DateOnly), ApprovalRequired: true,
		Note: "个体工商户注销登记（即办件）：综合窗口受理、当场决定，并按用印制度申请使用本局行政审批专用章，送达申请人"})
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	// The promised items (承诺件) are only received and delivered at the window; the
	// departments decide and seal them (受审分离).
	if _, err := seals.CreateAuthorization(ctx, act(), seal.NewAuthorization{GrantorDepartmentID: owner.ID,
		GranteeDepartmentID: center.ID, Items: []string{"440106-FOOD-004", "440106-FOOD-001"},
		Powers: []string{seal.PowerReceive, seal.PowerDeliver}, ValidFrom: now.AddDate(0, 0, -1).Format(time.DateOnly),
		ValidUntil: now.AddDate(1, 0, 0).Format(time.DateOnly),
		Note:       "食品经营许可（承诺件）：综合窗口收件、受理并转报本局审批，结果由窗口送达"}); err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	housing, err := identity.DepartmentByCode(ctx, pool, "TH-ZJJ")
	if err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	if _, err := seals.CreateAuthorization(ctx, act(), seal.NewAuthorization{GrantorDepartmentID: housing.ID,
		GranteeDepartmentID: center.ID, Items: []string{"440106-HOUSE-002"},
		Powers: []string{seal.PowerReceive, seal.PowerDeliver}, ValidFrom: now.AddDate(0, 0, -1).Format(time.DateOnly),
		ValidUntil: now.AddDate(1, 0, 0).Format(time.DateOnly),
		Note:       "住房租赁补贴（承诺件）：综合窗口收件、受理并转报，结果由窗口送达"}); err != nil {
		return fmt.Errorf("demo seals: %w", err)
	}
	log.Info("demo seals", "seals", strings.Join(refs, ","), "authorization", letter.Ref)
	return nil
}

// demoRules share the demo catalog's materials within the service center (and business
// licences across levels), as a district center's reuse list (复用细目) would.
var demoRules = []reuse.Rule{
	{TypeCode: "ID-CARD", Scope: reuse.ScopeCenter, Method: reuse.MethodReference, WithinValidity: true, OriginalRequired: true},
	{TypeCode: "ID-CARD", Scope: reuse.ScopeCenter, Method: reuse.MethodView, WithinValidity: true},
	{TypeCode: "HOUSEHOLD-REGISTER", Scope: reuse.ScopeCenter, Method: reuse.MethodReference, ConsentRequired: true},
	{TypeCode: "BUSINESS-LICENCE", Scope: reuse.ScopeCrossLevel, Method: reuse.MethodReference, WithinValidity: true},
	{TypeCode: "LEASE-CONTRACT", Scope: reuse.ScopeCenter, Method: reuse.MethodReference, WithinValidity: true, MaxAgeDays: ptr(180)},
	{TypeCode: "NO-CRIMINAL-RECORD", Scope: reuse.ScopeCenter, Method: reuse.MethodReference, WithinValidity: true, OriginalRequired: true},
	{TypeCode: "HEALTH-CERT", Scope: reuse.ScopeCenter, Method: reuse.MethodReference, WithinValidity: true},
	{TypeCode: "INCOME-PROOF", Scope: reuse.ScopeDepartment, Method: reuse.MethodReference, WithinValidity: true, ConsentRequired: true},
}

func ptr[T any](v T) *T { return &v }

// seedDemoCatalog imports the demo catalog (reuse/catalogfile/demo.yaml) and, when no rule
// exists yet, the demo reuse rules, acting as the demo administrator. Running it again
// changes nothing.
func seedDemoCatalog(ctx context.Context, pool *pgxpool.Pool, rs *reuse.Service, log *slog.Logger) error {
	cat, bad, err := catalogfile.Parse(bytes.NewReader(catalogfile.Demo), "yaml")
	if err != nil || len(bad) > 0 {
		return fmt.Errorf("demo catalog: %v %v", err, bad)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM material_types`).Scan(&n); err != nil || n > 0 {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sealvault.demo.catalog'))`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM material_types`).Scan(&n); err != nil || n > 0 {
			return err
		}
		for _, t := range cat.Types {
			if err := reuse.PutType(ctx, tx, t); err != nil {
				return err
			}
		}
		for _, it := range cat.Items {
			if err := reuse.PutItem(ctx, tx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || n > 0 {
		return err
	}
	admin, err := identity.UserByUsername(ctx, pool, "admin")
	if err != nil {
		return fmt.Errorf("demo rules: %w", err)
	}
	for i, r := range demoRules {
		if _, err := rs.CreateRule(ctx, reuse.Actor{User: admin, RequestID: fmt.Sprintf("demo-rule-%d", i+1)}, r); err != nil {
			return fmt.Errorf("demo rules: %w", err)
		}
	}
	log.Info("demo catalog", "types", len(cat.Types), "items", len(cat.Items), "rules", len(demoRules))
	return nil
}
