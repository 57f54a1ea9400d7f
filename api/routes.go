package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"sealvault/internal/identity"
	"sealvault/reuse"
)

// route is one row of the route table: who may call what.
type route struct {
	Method  string
	Path    string
	Public  bool            // no token needed
	Upload  bool            // takes large bodies (Deps.UploadLimit instead of BodyLimit)
	Export  bool            // reads much of the database: Deps.DBExportTimeout instead of DBTimeout
	Roles   []identity.Role // nil with Public false: any signed-in user
	Handler echo.HandlerFunc
}

// anyone marks a route every signed-in user may call, whatever their roles.
var anyone []identity.Role

func roles(r ...identity.Role) []identity.Role { return r }

// routes is the one table mapping every route to the roles allowed to call it. Every route
// not marked Public requires a valid token; a route test enumerates the registered routes
// and fails if one is missing here. The table decides who may call a route at all; each
// handler's contract also covers object-level checks (a user of department A does not read
// department B's objects unless a rule allows it) where its objects belong to departments.
func (s *Server) routes() []route {
	admin := roles(identity.RoleAdmin)
	auditors := roles(identity.RoleAuditor, identity.RoleAdmin)
	readers := roles(identity.RoleWindow, identity.RoleAdmin)
	sealAdmins := roles(identity.RoleSealAdmin, identity.RoleAdmin)
	requesters := roles(identity.RoleWindow, identity.RoleSealer)
	auditorsAndSealAdmins := roles(identity.RoleAuditor, identity.RoleAdmin, identity.RoleSealAdmin)
	caseStaff := roles(identity.RoleWindow, identity.RoleSealer)
	caseReaders := roles(identity.RoleWindow, identity.RoleSealer, identity.RoleSupervisor, identity.RoleAdmin, identity.RoleAuditor)
	registerReaders := roles(identity.RoleAuditor, identity.RoleAdmin, identity.RoleSealAdmin, identity.RoleSealer, identity.RoleCustodian, identity.RoleWindow)
	return []route{
		{Method: http.MethodGet, Path: "/healthz", Public: true, Handler: s.healthz},
		{Method: http.MethodGet, Path: "/readyz", Public: true, Handler: s.readyz},
		{Method: http.MethodGet, Path: "/metrics", Public: true, Handler: s.metrics},
		{Method: http.MethodGet, Path: "/api/v1/openapi.json", Public: true, Handler: s.openapi},
		{Method: http.MethodPost, Path: "/api/v1/auth/login", Public: true, Handler: s.login},

		{Method: http.MethodGet, Path: "/api/v1/me", Roles: anyone, Handler: s.me},
		{Method: http.MethodPost, Path: "/api/v1/me/password", Roles: anyone, Handler: s.changePassword},

		{Method: http.MethodGet, Path: "/api/v1/departments", Roles: admin, Handler: s.listDepartments},
		{Method: http.MethodPost, Path: "/api/v1/departments", Roles: admin, Handler: s.createDepartment},
		{Method: http.MethodGet, Path: "/api/v1/departments/:id", Roles: admin, Handler: s.getDepartment},
		{Method: http.MethodPatch, Path: "/api/v1/departments/:id", Roles: admin, Handler: s.updateDepartment},

		{Method: http.MethodGet, Path: "/api/v1/users", Roles: admin, Handler: s.listUsers},
		{Method: http.MethodPost, Path: "/api/v1/users", Roles: admin, Handler: s.createUser},
		{Method: http.MethodGet, Path: "/api/v1/users/:id", Roles: admin, Handler: s.getUser},
		{Method: http.MethodPatch, Path: "/api/v1/users/:id", Roles: admin, Handler: s.updateUser},
		{Method: http.MethodPost, Path: "/api/v1/users/:id/logout-everywhere", Roles: admin, Handler: s.logoutEverywhere},

		{Method: http.MethodPost, Path: "/api/v1/materials", Roles: roles(identity.RoleWindow), Upload: true, Handler: s.createMaterial},
		{Method: http.MethodGet, Path: "/api/v1/materials", Roles: readers, Handler: s.listMaterials},
		{Method: http.MethodPost, Path: "/api/v1/materials/search", Roles: readers, Handler: s.searchMaterials},
		{Method: http.MethodGet, Path: "/api/v1/materials/:id", Roles: readers, Handler: s.getMaterial},
		{Method: http.MethodGet, Path: "/api/v1/materials/:id/content", Roles: readers, Handler: s.materialContent},
		{Method: http.MethodGet, Path: "/api/v1/materials/:id/thumbnail", Roles: readers, Handler: s.materialThumbnail},

		{Method: http.MethodGet, Path: "/api/v1/ca/root.pem", Public: true, Handler: s.caRoot},
		{Method: http.MethodGet, Path: "/api/v1/ca/sm2-root.pem", Public: true, Handler: s.caSM2Root},
		{Method: http.MethodGet, Path: "/api/v1/ca/tsa.pem", Public: true, Handler: s.tsaCertificate},
		{Method: http.MethodPost, Path: "/api/v1/tsa", Public: true, Handler: s.timestampQuery},
		{Method: http.MethodGet, Path: "/api/v1/ca/crl", Public: true, Handler: s.caCRL},
		{Method: http.MethodGet, Path: "/api/v1/ca/sm2-crl", Public: true, Handler: s.caSM2CRL},
		{Method: http.MethodGet, Path: "/api/v1/ca/trust.pem", Public: true, Handler: s.caTrust},

		{Method: http.MethodGet, Path: "/api/v1/seals", Roles: anyone, Handler: s.listSeals},
		{Method: http.MethodPost, Path: "/api/v1/seals", Roles: sealAdmins, Handler: s.createSeal},
		{Method: http.MethodPost, Path: "/api/v1/seals/import", Roles: sealAdmins, Upload: true, Handler: s.importSeal},
		{Method: http.MethodGet, Path: "/api/v1/seals/:id", Roles: anyone, Handler: s.getSeal},
		{Method: http.MethodGet, Path: "/api/v1/seals/:id/certificate", Roles: anyone, Handler: s.sealCertificate},
		{Method: http.MethodPost, Path: "/api/v1/seals/:id/status", Roles: sealAdmins, Handler: s.changeSealStatus},
		{Method: http.MethodPost, Path: "/api/v1/seals/:id/scan-to-verify", Roles: sealAdmins, Handler: s.setScanToVerify},
		{Method: http.MethodGet, Path: "/api/v1/seals/:id/image", Roles: anyone, Handler: s.sealImage},
		{Method: http.MethodPost, Path: "/api/v1/seals/:id/image", Roles: sealAdmins, Handler: s.addSealImage},
		{Method: http.MethodGet, Path: "/api/v1/seals/:id/seal-data", Roles: anyone, Handler: s.sealData},

		{Method: http.MethodGet, Path: "/api/v1/directory", Roles: sealAdmins, Handler: s.directory},
		{Method: http.MethodGet, Path: "/api/v1/authorizations", Roles: anyone, Handler: s.listAuthorizations},
		{Method: http.MethodPost, Path: "/api/v1/authorizations", Roles: sealAdmins, Handler: s.createAuthorization},
		{Method: http.MethodGet, Path: "/api/v1/authorizations/:id", Roles: anyone, Handler: s.getAuthorization},
		{Method: http.MethodPost, Path: "/api/v1/authorizations/:id/revoke", Roles: sealAdmins, Handler: s.revokeAuthorization},

		{Method: http.MethodPost, Path: "/api/v1/documents", Roles: requesters, Upload: true, Handler: s.uploadDocument},
		{Method: http.MethodGet, Path: "/api/v1/documents/:digest/pages/:n", Roles: requesters, Handler: s.documentPage},
		{Method: http.MethodPost, Path: "/api/v1/seal-requests", Roles: requesters, Handler: s.createSealRequest},
		{Method: http.MethodGet, Path: "/api/v1/seal-requests", Roles: anyone, Handler: s.listSealRequests},
		{Method: http.MethodGet, Path: "/api/v1/seal-requests/:id", Roles: anyone, Handler: s.getSealRequest},
		{Method: http.MethodGet, Path: "/api/v1/seal-requests/:id/pages/:n", Roles: anyone, Handler: s.requestPage},
		{Method: http.MethodPost, Path: "/api/v1/seal-requests/:id/approve", Roles: roles(identity.RoleCustodian), Handler: s.decideSealRequest(true)},
		{Method: http.MethodPost, Path: "/api/v1/seal-requests/:id/reject", Roles: roles(identity.RoleCustodian), Handler: s.decideSealRequest(false)},
		{Method: http.MethodPost, Path: "/api/v1/seal-requests/:id/apply", Roles: requesters, Handler: s.applySealRequest},
		{Method: http.MethodGet, Path: "/api/v1/seal-uses", Roles: auditorsAndSealAdmins, Handler: s.listSealUses},
		{Method: http.MethodGet, Path: "/api/v1/seal-uses/:id", Roles: registerReaders, Handler: s.getSealUse},
		{Method: http.MethodGet, Path: "/api/v1/seal-uses/:id/content", Roles: registerReaders, Handler: s.sealUseContent},
		{Method: http.MethodPost, Path: "/api/v1/verify", Roles: anyone, Upload: true, Handler: s.verifyPDF},
		{Method: http.MethodPost, Path: "/api/v1/public/verify", Public: true, Upload: true, Handler: s.publicVerifyPDF},
		{Method: http.MethodGet, Path: "/api/v1/public/uses/:token", Public: true, Handler: s.publicUse},
		{Method: http.MethodPost, Path: "/api/v1/seal-data/inspect", Roles: anyone, Upload: true, Handler: s.inspectSealData},

		{Method: http.MethodGet, Path: "/api/v1/catalog/types", Roles: anyone, Handler: s.listTypes},
		{Method: http.MethodPost, Path: "/api/v1/catalog/types", Roles: admin, Handler: s.putType},
		{Method: http.MethodGet, Path: "/api/v1/catalog/items", Roles: anyone, Handler: s.listItems},
		{Method: http.MethodPost, Path: "/api/v1/catalog/items", Roles: admin, Handler: s.putItem},
		{Method: http.MethodGet, Path: "/api/v1/reuse-rules", Roles: anyone, Handler: s.listRules},
		{Method: http.MethodPost, Path: "/api/v1/reuse-rules", Roles: admin, Handler: s.createRule},
		{Method: http.MethodPost, Path: "/api/v1/cases", Roles: roles(identity.RoleWindow), Handler: s.openCase},
		{Method: http.MethodGet, Path: "/api/v1/cases", Roles: caseReaders, Handler: s.listCases},
		{Method: http.MethodPost, Path: "/api/v1/cases/search", Roles: caseReaders, Handler: s.searchCases},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id", Roles: caseReaders, Handler: s.getCase},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/accept", Roles: caseStaff, Handler: s.acceptCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/refuse", Roles: caseStaff, Handler: s.refuseCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/withdraw", Roles: roles(identity.RoleWindow), Handler: s.withdrawCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/forward", Roles: roles(identity.RoleWindow), Handler: s.forwardCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/decide", Roles: caseStaff, Handler: s.decideCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/documents", Roles: caseStaff, Handler: s.addCaseDocument()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/deliver", Roles: roles(identity.RoleWindow), Handler: s.deliverCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/close", Roles: roles(identity.RoleWindow), Handler: s.closeCase()},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/notices", Roles: roles(identity.RoleWindow, identity.RoleSupervisor), Handler: s.issueNotice},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/notices", Roles: caseReaders, Handler: s.listNotices},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/notices/:no", Roles: caseReaders, Handler: s.getNotice},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/materials/:type/reject", Roles: roles(identity.RoleWindow), Handler: s.rejectCaseMaterial()},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/timeline", Roles: roles(identity.RoleWindow, identity.RoleSealer, identity.RoleSupervisor, identity.RoleAuditor), Handler: s.caseTimeline},
		{Method: http.MethodGet, Path: "/api/v1/reports/due", Roles: caseReaders, Handler: s.dueReport},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/notice", Roles: roles(identity.RoleWindow, identity.RoleAdmin), Handler: s.caseNotice},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/consent", Roles: roles(identity.RoleWindow), Handler: s.recordConsent},
		{Method: http.MethodPost, Path: "/api/v1/cases/:id/materials", Roles: roles(identity.RoleWindow), Handler: s.attachMaterial},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/materials/:mid/view", Roles: roles(identity.RoleWindow), Handler: s.caseMaterial(reuse.MethodView)},
		{Method: http.MethodGet, Path: "/api/v1/cases/:id/materials/:mid/download", Roles: roles(identity.RoleWindow), Handler: s.caseMaterial(reuse.MethodDownload)},
		{Method: http.MethodGet, Path: "/api/v1/reports/reuse", Roles: auditors, Export: true, Handler: s.reuseReport},

		{Method: http.MethodGet, Path: "/api/v1/audit/events", Roles: auditors, Handler: s.auditEvents},
		{Method: http.MethodGet, Path: "/api/v1/audit/checkpoint", Roles: auditors, Handler: s.auditCheckpoint},
		{Method: http.MethodPost, Path: "/api/v1/audit/checkpoint", Roles: auditors, Export: true, Handler: s.issueCheckpoint},
		{Method: http.MethodGet, Path: "/api/v1/audit/proof/inclusion", Roles: auditors, Handler: s.inclusionProof},
		{Method: http.MethodGet, Path: "/api/v1/audit/proof/consistency", Roles: auditors, Handler: s.consistencyProof},
		{Method: http.MethodGet, Path: "/api/v1/audit/export", Roles: auditors, Export: true, Handler: s.auditExport},
		{Method: http.MethodGet, Path: "/api/v1/audit/verify", Roles: auditors, Export: true, Handler: s.auditVerify},
	}
}

// RouteAccess says who may call the API route method path (as written in the route table,
// e.g. "/api/v1/cases/:id"): public, or the roles allowed (nil: any signed-in user). ok is
// false when there is no such route. The workbench's pages take their access from it, so a
// page is allowed exactly to those the API route behind it allows.
func (s *Server) RouteAccess(method, path string) (public bool, allowed []identity.Role, ok bool) {
	for _, r := range s.routes() {
		if r.Method == method && r.Path == path {
			return r.Public, r.Roles, true
		}
	}
	return false, nil, false
}
