//! `resource "rdsiam_postgres_role_membership"`: one membership, `GRANT role TO member`, with
//! its options (ADMIN; INHERIT and SET on PostgreSQL 16+) changed in place, its grantor
//! recorded, drift (a REVOKE out of band) re-created and import by `role|member`. Additive: it
//! revokes only the membership it manages, and on 16+ only the row its own login granted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;

use crate::pg::ident::{quote_ident, validate_name};
use crate::pg::row::col;
use crate::pg::{Pg, PgError};
use crate::resources::import_id::{decode_field, encode_field};
use crate::resources::managed::{CreateError, ManagedResource, Op, Postgres, unavailable};
use crate::resources::pg_roles::{
    create_preamble, current_user, grant, revoke, role_name, roles_of_current_user,
};
use crate::tfplugin::{
    Attribute, AttributePath, Block, Diagnostic, Diagnostics, Maybe, Schema, Value,
};

pub struct PostgresRoleMembership;

const V16: i32 = 160_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipSpec {
    role: String,
    member: String,
    #[serde(default)]
    admin_option: bool,
    #[serde(default = "yes")]
    inherit: bool,
    #[serde(default = "yes")]
    set: bool,
    /// Computed: unknown in the plan of a create.
    #[serde(default)]
    grantor: Maybe<String>,
}

fn yes() -> bool {
    true
}

impl MembershipSpec {
    fn new(role: &str, member: &str) -> MembershipSpec {
        MembershipSpec {
            role: role.to_string(),
            member: member.to_string(),
            admin_option: false,
            inherit: true,
            set: true,
            grantor: Maybe::Null,
        }
    }
}

/// One pg_auth_members row of (member, role).
#[derive(Clone, Debug, PartialEq)]
struct Row {
    grantor: String,
    admin: bool,
    inherit: bool,
    set: bool,
}

/// The role that GRANTs by the provider's login are recorded under: a superuser's grants are
/// recorded as the bootstrap superuser's (16+).
async fn our_grantor(pg: &Pg) -> Result<String, PgError> {
    let roles = pg.roles().await?;
    let me = &roles.current_user;
    let superuser = roles.by_name.get(me).is_some_and(|r| r.flags[1]);
    Ok(match superuser {
        true => roles.bootstrap.clone(),
        false => me.clone(),
    })
}

/// The member's grants of `role`, one per grantor, by grantor.
async fn rows(pg: &Pg, role: &str, member: &str) -> Result<Vec<Row>, PgError> {
    let roles = pg.roles().await?;
    let of = roles
        .by_name
        .get(member)
        .map(|m| &m.member_of[..])
        .unwrap_or_default();
    let mut rows: Vec<Row> = (of.iter().filter(|m| m.role == role))
        .map(|m| Row {
            grantor: m.grantor.clone(),
            admin: m.admin,
            inherit: m.inherit,
            set: m.set,
        })
        .collect();
    rows.sort_by(|a, b| a.grantor.cmp(&b.grantor));
    Ok(rows)
}

/// The row this resource reports: the one our login granted, else another grantor's (with a
/// warning: it is reported, not fought).
fn pick(
    rows: Vec<Row>,
    ours: &str,
    spec: &MembershipSpec,
    warnings: &mut Diagnostics,
) -> Option<Row> {
    if let Some(r) = rows.iter().find(|r| r.grantor == ours) {
        return Some(r.clone());
    }
    let other = rows.into_iter().next()?;
    warnings.warning(
        "Membership granted by another role",
        format!(
            "{:?} is a member of {:?} through a grant by {:?}, not by the provider's login {ours:?}. It is reported as it is; the provider does not revoke it (PostgreSQL 16+ keeps one grant per grantor).",
            spec.member, spec.role, other.grantor
        ),
    );
    Some(other)
}

fn observed_spec(recorded: &MembershipSpec, r: &Row) -> MembershipSpec {
    MembershipSpec {
        role: recorded.role.clone(),
        member: recorded.member.clone(),
        admin_option: r.admin,
        inherit: r.inherit,
        set: r.set,
        grantor: Maybe::Known(r.grantor.clone()),
    }
}

fn onoff(b: bool) -> &'static str {
    if b { "TRUE" } else { "FALSE" }
}

/// The GRANT that creates the membership.
fn create_sql(spec: &MembershipSpec, v16: bool) -> String {
    let g = grant(&spec.role, &spec.member);
    if v16 {
        format!(
            "{g} WITH ADMIN {}, INHERIT {}, SET {}",
            onoff(spec.admin_option),
            onoff(spec.inherit),
            onoff(spec.set)
        )
    } else if spec.admin_option {
        format!("{g} WITH ADMIN OPTION")
    } else {
        g
    }
}

/// Options changed in place, never revoke + re-grant: 16+ updates the row with GRANT … WITH;
/// before 16 only ADMIN OPTION exists.
fn update_sql(from: &MembershipSpec, to: &MembershipSpec, v16: bool) -> Vec<String> {
    let g = grant(&to.role, &to.member);
    if v16 {
        let mut opts = Vec::new();
        if from.admin_option != to.admin_option {
            opts.push(format!("ADMIN {}", onoff(to.admin_option)));
        }
        if from.inherit != to.inherit {
            opts.push(format!("INHERIT {}", onoff(to.inherit)));
        }
        if from.set != to.set {
            opts.push(format!("SET {}", onoff(to.set)));
        }
        if opts.is_empty() {
            Vec::new()
        } else {
            vec![format!("{g} WITH {}", opts.join(", "))]
        }
    } else if from.admin_option == to.admin_option {
        Vec::new()
    } else if to.admin_option {
        vec![format!("{g} WITH ADMIN OPTION")]
    } else {
        vec![format!(
            "REVOKE ADMIN OPTION FOR {} FROM {}",
            quote_ident(&to.role),
            quote_ident(&to.member)
        )]
    }
}

/// INHERIT and SET exist from PostgreSQL 16; asking for a non-default value on an older server
/// is an error naming the attribute (the version is known only once connected).
async fn check_version(pg: &Pg, spec: &MembershipSpec) -> Result<bool, Diagnostics> {
    let version = pg.server_version().await.map_err(unavailable::<Postgres>)?;
    if version >= V16 {
        return Ok(true);
    }
    let mut d = Diagnostics::new();
    for (attr, value) in [("inherit", spec.inherit), ("set", spec.set)] {
        if !value {
            d.error_at(
                AttributePath::root(attr),
                format!("Invalid {attr}"),
                format!(
                    "{attr} = false needs PostgreSQL 16 or later; the server is {}.{}. Remove it (on older servers every membership inherits and allows SET ROLE, unless the member is NOINHERIT).",
                    version / 10_000,
                    version % 10_000
                ),
            );
        }
    }
    if d.has_errors() { Err(d) } else { Ok(false) }
}

/// The login must never become a member of anything through this resource, nor hand its own
/// privileges to another role.
async fn refuse_self(pg: &Pg, spec: &MembershipSpec) -> Result<(), Diagnostics> {
    let unavailable = unavailable::<Postgres>;
    let (me, _) = current_user(pg).await.map_err(unavailable)?;
    let mine = roles_of_current_user(pg).await.map_err(unavailable)?;
    let (path, why) = if mine.contains(&spec.member) {
        (
            AttributePath::root("member"),
            format!(
                "{:?} is the provider's login {me:?} or a role it belongs to: granting {:?} to it would make {me:?} a member of {:?}.",
                spec.member, spec.role, spec.role
            ),
        )
    } else if spec.role == me {
        (
            AttributePath::root("role"),
            format!(
                "{me:?} is the provider's login: {:?} could then act with the login's privileges.",
                spec.member
            ),
        )
    } else {
        return Ok(());
    };
    Err(Diagnostic::error(
        "Refusing a membership of the provider's login",
        format!("{why} Manage this membership another way, or connect as another role."),
    )
    .at(path)
    .into())
}

fn write_error(action: &str, spec: &MembershipSpec, e: &PgError) -> Diagnostics {
    let mut detail = format!(
        "{action} membership of {:?} in {:?} failed: {e}",
        spec.member, spec.role
    );
    if e.is(&SqlState::INSUFFICIENT_PRIVILEGE) {
        detail.push_str(&format!(
            "\n\nThe provider's login role lacks a privilege. It needs CREATEROLE, and on PostgreSQL 16 and later it may grant only roles it holds WITH ADMIN OPTION. As a superuser run: GRANT {} TO <provider login> WITH ADMIN OPTION, INHERIT FALSE, SET FALSE; — this lets it grant the role without becoming a member.",
            quote_ident(&spec.role)
        ));
    } else if e.is(&SqlState::UNDEFINED_OBJECT) {
        detail.push_str("\n\nThe role or the member does not exist.");
    }
    Diagnostic::error(
        format!("Cannot {action} PostgreSQL role membership"),
        detail,
    )
    .into()
}

fn read_error(spec: &MembershipSpec, e: &PgError) -> Diagnostics {
    Diagnostic::error(
        "Cannot read PostgreSQL role membership",
        format!(
            "Reading the membership of {:?} in {:?} failed: {e}",
            spec.member, spec.role
        ),
    )
    .into()
}

fn parse_id(id: &str) -> Result<(String, String), String> {
    let fields: Vec<&str> = id.split('|').collect();
    let [role, member] = fields.as_slice() else {
        return Err(format!(
            "{id:?}: the ID is `role|member` (`%7C` for a `|` inside a name)."
        ));
    };
    let role = decode_field(role)?;
    let member = decode_field(member)?;
    for (what, v) in [("role", &role), ("member", &member)] {
        validate_name(v).map_err(|e| format!("{what} {v:?} {e}"))?;
    }
    Ok((role, member))
}

#[async_trait]
impl ManagedResource for PostgresRoleMembership {
    type Engine = Postgres;
    type Model = MembershipSpec;
    const TYPE_NAME: &'static str = "rdsiam_postgres_role_membership";
    /// Resource identity: the import ID's fields (Terraform >= 1.12).
    const IDENTITY: &[(&str, bool)] = &[("role", true), ("member", true)];

    fn schema() -> Schema {
        Schema::new(
            Block::new(
                "One role membership: `GRANT role TO member`, typically an IAM user into a \
                 group role. Additive: only this membership is ever revoked (on PostgreSQL 16+ \
                 only the grant made by the provider's login), and a change of options is made \
                 in place (`GRANT … WITH …`, `REVOKE ADMIN OPTION FOR …`), never by revoking and \
                 granting again. A REVOKE made out of band shows in the next plan. Import with \
                 `role|member`.\n\nThe provider never makes its own login role a member of \
                 anything.",
            )
            .attr(
                Attribute::string("id")
                    .computed()
                    .description("`role|member`, percent-encoded as the import ID."),
            )
            .attr(
                Attribute::string("role")
                    .required()
                    .requires_replace()
                    .validate(role_name())
                    .description("The role granted (the group). Changing it replaces the membership."),
            )
            .attr(
                Attribute::string("member")
                    .required()
                    .requires_replace()
                    .validate(role_name())
                    .description("The role that becomes a member (e.g. an `rdsiam_postgres_user`). Never the provider's own login. Changing it replaces the membership."),
            )
            .attr(
                Attribute::bool("admin_option")
                    .default_value(Value::bool(false))
                    .description("`WITH ADMIN OPTION`: the member may grant the role to others (default `false`)."),
            )
            .attr(
                Attribute::bool("inherit")
                    .default_value(Value::bool(true))
                    .description("`WITH INHERIT`: the member uses the role's privileges without `SET ROLE` (default `true`). PostgreSQL 16 and later; `false` on an older server is an error at apply."),
            )
            .attr(
                Attribute::bool("set")
                    .default_value(Value::bool(true))
                    .description("`WITH SET`: the member may `SET ROLE` to the role (default `true`). PostgreSQL 16 and later; `false` on an older server is an error at apply."),
            )
            .attr(
                Attribute::string("grantor")
                    .computed()
                    .description("The role recorded as granting the membership (`pg_auth_members.grantor`). On PostgreSQL 16+, where one membership can be granted by several roles, the grant by the provider's login is reported if there is one, otherwise another's (with a warning)."),
            ),
        )
    }

    fn validate(config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        let (role, member) = (config.get("role").as_str(), config.get("member").as_str());
        if role.is_some() && role == member {
            d.error_at(
                AttributePath::root("member"),
                "Invalid member",
                "a role cannot be a member of itself",
            );
        }
        d
    }

    const PLAN_NEEDS_DB: bool = true;

    async fn check_plan(
        &self,
        op: &mut Op<'_, Pg>,
        planned: &MembershipSpec,
    ) -> Result<(), Diagnostics> {
        // Only a non-default option can fail on an older server: don't ask it otherwise.
        if planned.inherit && planned.set {
            return Ok(());
        }
        check_version(op.db, planned).await.map(|_| ())
    }

    fn id(spec: &MembershipSpec) -> String {
        format!(
            "{}|{}",
            encode_field(&spec.role),
            encode_field(&spec.member)
        )
    }

    async fn read(
        &self,
        op: &mut Op<'_, Pg>,
        recorded: MembershipSpec,
    ) -> Result<Option<MembershipSpec>, Diagnostics> {
        let pg = op.db;
        let found = async {
            let ours = our_grantor(pg).await?;
            Ok::<_, PgError>((rows(pg, &recorded.role, &recorded.member).await?, ours))
        }
        .await
        .map_err(|e| read_error(&recorded, &e))?;
        let (found, ours) = found;
        Ok(pick(found, &ours, &recorded, &mut op.warnings).map(|r| observed_spec(&recorded, &r)))
    }

    async fn create(
        &self,
        op: &mut Op<'_, Pg>,
        spec: MembershipSpec,
    ) -> Result<MembershipSpec, CreateError> {
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        let v16 = check_version(pg, &spec).await?;
        let ours = our_grantor(pg).await.map_err(unavailable::<Postgres>)?;
        let existing = rows(pg, &spec.role, &spec.member)
            .await
            .map_err(|e| read_error(&spec, &e))?;
        // Before 16 there is one row whoever granted it: adopting it would let destroy revoke a
        // membership we did not make. On 16+ only our own row is ours.
        if existing.iter().any(|r| !v16 || r.grantor == ours) {
            return Err(CreateError::Failed(Diagnostic::error(
                "PostgreSQL role membership already exists",
                format!(
                    "{:?} is already a member of {:?}: import it with `terraform import` (ID: {}) instead of creating it.",
                    spec.member,
                    spec.role,
                    Self::id(&spec)
                ),
            )
            .into()));
        }
        let mut sql = create_preamble(pg).await.map_err(unavailable::<Postgres>)?;
        sql.push(create_sql(&spec, v16));
        let done = MembershipSpec {
            grantor: Maybe::Known(ours),
            ..spec.clone()
        };
        match pg.write(None, &sql).await {
            Ok(()) => Ok(done),
            Err(e) => Err(CreateError::of_write(
                e.commit_unknown(),
                write_error("create", &spec, &e),
            )),
        }
    }

    async fn update(
        &self,
        op: &mut Op<'_, Pg>,
        prior: MembershipSpec,
        spec: MembershipSpec,
    ) -> Result<MembershipSpec, Diagnostics> {
        let pg = op.db;
        refuse_self(pg, &spec).await?;
        let v16 = check_version(pg, &spec).await?;
        let ours = our_grantor(pg).await.map_err(unavailable::<Postgres>)?;
        // Reported from another grantor's row: ours does not exist yet, so GRANT makes it with
        // every option stated, leaving theirs alone.
        let sql = if prior.grantor.known().is_some_and(|g| *g != ours) {
            vec![create_sql(&spec, v16)]
        } else {
            update_sql(&prior, &spec, v16)
        };
        if !sql.is_empty() {
            pg.write(None, &sql)
                .await
                .map_err(|e| write_error("update", &spec, &e))?;
        }
        let found = rows(pg, &spec.role, &spec.member)
            .await
            .map_err(|e| read_error(&spec, &e))?;
        match pick(found, &ours, &spec, &mut op.warnings) {
            Some(r) => Ok(observed_spec(&spec, &r)),
            None => Err(Diagnostic::error(
                "PostgreSQL role membership vanished",
                format!(
                    "The membership of {:?} in {:?} disappeared during the update.",
                    spec.member, spec.role
                ),
            )
            .into()),
        }
    }

    async fn delete(&self, op: &mut Op<'_, Pg>, prior: MembershipSpec) -> Result<(), Diagnostics> {
        let pg = op.db;
        let ours = our_grantor(pg)
            .await
            .map_err(|e| write_error("revoke", &prior, &e))?;
        // A membership reported from another grantor's row is not ours to revoke.
        if let Some(g) = prior.grantor.known().filter(|g| **g != ours)
            && pg.server_version().await.map_err(unavailable::<Postgres>)? >= V16
        {
            op.warnings.warning(
                "Membership left in place",
                format!(
                    "{:?} stays a member of {:?}: the membership was granted by {g:?}, not by the provider's login {ours:?}, so it is not the provider's to revoke.",
                    prior.member, prior.role
                ),
            );
            return Ok(());
        }
        let exists = pg
            .query(
                None,
                "SELECT count(*) FROM pg_roles WHERE rolname = $1 OR rolname = $2",
                &[&prior.role, &prior.member],
            )
            .await
            .map_err(|e| read_error(&prior, &e))?;
        let both: i64 = match exists.first() {
            Some(r) => col(r, 0).map_err(|e| read_error(&prior, &e))?,
            None => 0,
        };
        // A dropped role took the membership with it.
        if both < 2 {
            return Ok(());
        }
        pg.write(None, &[revoke(&prior.role, &prior.member)])
            .await
            .map_err(|e| write_error("revoke", &prior, &e))
    }

    fn check_import_id(id: &str) -> Result<(), Diagnostics> {
        parse_id(id)
            .map(|_| ())
            .map_err(|e| Diagnostic::error("Invalid import ID", e).into())
    }

    async fn import(
        &self,
        op: &mut Op<'_, Pg>,
        id: &str,
    ) -> Result<Vec<MembershipSpec>, Diagnostics> {
        let (role, member) = parse_id(id)
            .map_err(|e| Diagnostics::from(Diagnostic::error("Invalid import ID", e)))?;
        let recorded = MembershipSpec::new(&role, &member);
        match self.read(op, recorded).await? {
            Some(m) => Ok(vec![m]),
            None => Err(Diagnostic::error(
                "Cannot import PostgreSQL role membership",
                format!("{member:?} is not a member of {role:?} (names are case-sensitive)."),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_the_import_id() {
        let m = MembershipSpec::new("app|ro", "mario.rossi@example.com");
        crate::resources::managed::assert_identity_names_the_id::<PostgresRoleMembership>(&m);
    }

    fn spec() -> MembershipSpec {
        MembershipSpec::new("app_readonly", "mario.rossi@example.com")
    }

    #[test]
    fn grant_syntax_per_version() {
        let mut s = spec();
        assert_eq!(
            create_sql(&s, false),
            "GRANT \"app_readonly\" TO \"mario.rossi@example.com\""
        );
        s.inherit = false;
        s.admin_option = true;
        assert_eq!(
            create_sql(&s, true),
            "GRANT \"app_readonly\" TO \"mario.rossi@example.com\" WITH ADMIN TRUE, INHERIT FALSE, SET TRUE"
        );
        assert_eq!(
            create_sql(&s, false),
            "GRANT \"app_readonly\" TO \"mario.rossi@example.com\" WITH ADMIN OPTION"
        );
    }

    #[test]
    fn options_change_in_place() {
        let from = spec();
        let mut to = from.clone();
        assert!(update_sql(&from, &to, true).is_empty());
        to.inherit = false;
        assert_eq!(
            update_sql(&from, &to, true),
            vec!["GRANT \"app_readonly\" TO \"mario.rossi@example.com\" WITH INHERIT FALSE"]
        );
        let mut admin = from.clone();
        admin.admin_option = true;
        assert_eq!(
            update_sql(&admin, &from, false),
            vec!["REVOKE ADMIN OPTION FOR \"app_readonly\" FROM \"mario.rossi@example.com\""]
        );
        assert_eq!(
            update_sql(&from, &admin, false),
            vec!["GRANT \"app_readonly\" TO \"mario.rossi@example.com\" WITH ADMIN OPTION"]
        );
        assert!(
            update_sql(&admin, &from, true)
                .iter()
                .all(|s| !s.starts_with("REVOKE \""))
        );
    }

    #[test]
    fn ids_round_trip() {
        let s = MembershipSpec::new("a|b", "c,d%");
        let id = PostgresRoleMembership::id(&s);
        assert_eq!(id, "a%7Cb|c%2Cd%25");
        assert_eq!(parse_id(&id), Ok(("a|b".to_string(), "c,d%".to_string())));
        assert!(parse_id("only_one").is_err());
        assert!(parse_id("a|b|c").is_err());
        assert!(parse_id("|b").is_err());
        assert!(parse_id("a|50%").is_err());
    }

    #[test]
    fn another_grantors_row_is_reported_with_a_warning() {
        let row = |g: &str, inherit| Row {
            grantor: g.to_string(),
            admin: false,
            inherit,
            set: true,
        };
        let mut w = Diagnostics::new();
        let picked = pick(
            vec![row("other", true), row("me", false)],
            "me",
            &spec(),
            &mut w,
        );
        assert_eq!(picked, Some(row("me", false)));
        assert!(w.is_empty());
        let picked = pick(vec![row("other", true)], "me", &spec(), &mut w);
        assert_eq!(picked.map(|r| r.grantor), Some("other".to_string()));
        assert_eq!(w.0.len(), 1);
        assert!(w.0[0].detail.contains("\"other\""));
    }

    #[test]
    fn validation_names_attributes() {
        let validate = |cfg: &Value| {
            let mut d = PostgresRoleMembership::schema().validate(cfg);
            d.extend(PostgresRoleMembership::validate(cfg));
            d
        };
        let bad = Value::object([("role", Value::string("")), ("member", Value::string("x"))]);
        assert!(validate(&bad).has_errors());
        let same = Value::object([("role", Value::string("g")), ("member", Value::string("g"))]);
        assert!(validate(&same).has_errors());
        let ok = Value::object([
            ("role", Value::string("g")),
            ("member", Value::string("mario.rossi@example.com")),
        ]);
        assert!(validate(&ok).is_empty());
    }
}
