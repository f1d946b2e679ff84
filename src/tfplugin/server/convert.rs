//! Between the protocol's messages and the typed model: `DynamicValue`s decoded and encoded
//! with the schema's type, diagnostics, attribute paths, timestamps and function signatures.

use std::time::SystemTime;

use super::super::diagnostics::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use super::super::proto::tfplugin6 as pb;
use super::super::schema::Schema;
use super::super::traits::{Function, Parameter};
use super::super::value::{self, Type, Value};

pub(super) fn path_to_proto(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn diag_to_proto(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.attribute.as_ref().map(path_to_proto),
    }
}

pub(super) fn diags_to_proto(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.iter().map(diag_to_proto).collect()
}

/// A value Terraform sent, msgpack or (rarely) JSON; an absent or empty one is null.
pub(super) fn decode(
    dv: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
) -> Result<Value, Diagnostics> {
    let res = match dv {
        None => Ok(Value::Null),
        Some(dv) if !dv.msgpack.is_empty() => value::decode_msgpack(&dv.msgpack, ty),
        Some(dv) if !dv.json.is_empty() => value::decode_json(&dv.json, ty),
        Some(_) => Ok(Value::Null),
    };
    res.map_err(|e| {
        Diagnostic::error(
            format!("Invalid {what} from Terraform"),
            format!("The provider could not decode the {what}: {e}. This is a bug in the provider or in Terraform."),
        )
        .into()
    })
}

pub(super) fn encode(v: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostics> {
    value::encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                format!("Invalid {what} produced by the provider"),
                format!(
                    "The provider could not encode the {what}: {e}. This is a bug in the provider."
                ),
            )
            .into()
        })
}

pub(super) fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}."),
    )
    .into()
}

pub(super) fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

/// Write-only values must never reach state: null them whatever the resource returned.
pub(super) fn null_write_only(schema: &Schema, v: &mut Value) {
    if v.is_null() {
        return;
    }
    for a in schema.block.attributes.iter().filter(|a| a.write_only) {
        v.set_attr(&a.name, Value::Null);
    }
}

pub(super) fn function_to_proto(f: &dyn Function) -> pb::Function {
    let d = f.definition();
    let md = pb::StringKind::Markdown as i32;
    let param = |p: &Parameter| pb::function::Parameter {
        name: p.name.clone(),
        r#type: p.ty.to_json_bytes(),
        allow_null_value: p.allow_null,
        allow_unknown_values: p.allow_unknown,
        description: p.description.clone(),
        description_kind: md,
    };
    pb::Function {
        parameters: d.parameters.iter().map(param).collect(),
        variadic_parameter: d.variadic.as_ref().map(param),
        r#return: Some(pb::function::Return {
            r#type: d.returns.to_json_bytes(),
        }),
        summary: d.summary.clone(),
        description: d.description.clone(),
        description_kind: md,
        deprecation_message: d.deprecation_message.clone(),
    }
}

/// A response whose outcome is its diagnostics: failures become a response carrying them (and
/// otherwise the defaults), and the logging wrapper reads them back.
pub(super) trait DiagnosticsResponse: Default {
    fn diagnostics(&self) -> &[pb::Diagnostic];
    fn diagnostics_mut(&mut self) -> &mut Vec<pb::Diagnostic>;

    fn failed(d: &Diagnostics) -> Self {
        let mut r = Self::default();
        *r.diagnostics_mut() = diags_to_proto(d);
        r
    }

    /// The response built, or the diagnostics that stopped it.
    fn or_failed(res: Result<Self, Diagnostics>) -> Self {
        res.unwrap_or_else(|d| Self::failed(&d))
    }
}

/// A failure that must not lose the object: the response carries `state` back unchanged.
pub(super) fn or_keep<R: DiagnosticsResponse>(
    res: Result<R, Diagnostics>,
    state: Option<pb::DynamicValue>,
    slot: impl FnOnce(&mut R) -> &mut Option<pb::DynamicValue>,
) -> R {
    res.unwrap_or_else(|d| {
        let mut r = R::failed(&d);
        *slot(&mut r) = state;
        r
    })
}

macro_rules! diagnostics_response {
    ($($rpc:ident),* $(,)?) => {$(
        impl DiagnosticsResponse for pb::$rpc::Response {
            fn diagnostics(&self) -> &[pb::Diagnostic] {
                &self.diagnostics
            }
            fn diagnostics_mut(&mut self) -> &mut Vec<pb::Diagnostic> {
                &mut self.diagnostics
            }
        }
    )*};
}

diagnostics_response!(
    get_metadata,
    get_provider_schema,
    validate_provider_config,
    validate_resource_config,
    validate_data_resource_config,
    validate_ephemeral_resource_config,
    upgrade_resource_state,
    get_resource_identity_schemas,
    upgrade_resource_identity,
    configure_provider,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    move_resource_state,
    read_data_source,
    generate_resource_config,
    open_ephemeral_resource,
    renew_ephemeral_resource,
    close_ephemeral_resource,
    get_functions,
);
