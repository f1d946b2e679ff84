//! The schema model resources are written against, its implied cty type (used to decode
//! `DynamicValue`s) and its protocol form.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::diagnostics::{AttributePath, Diagnostics};
use super::proto::tfplugin6 as pb;
use super::value::{Type, Value};

#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

#[derive(Clone, Debug, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    /// Markdown; rendered by Terraform and by our docs generator.
    pub description: String,
    pub deprecated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
}

#[derive(Clone, Debug)]
pub enum AttributeType {
    Plain(Type),
    /// Nested attributes (protocol 6 `nested_type`).
    Nested(Nesting, Vec<Attribute>),
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: String,
    pub ty: AttributeType,
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: bool,
    /// Not sent to Terraform: the framework's default plan marks a change of this attribute as
    /// requiring replacement.
    pub requires_replace: bool,
    /// Not sent to Terraform: the value the default plan uses when the configuration leaves
    /// this (optional + computed) attribute null, so plans show what will be set.
    pub default: Option<Value>,
    /// Not sent to Terraform: checks of the known, non-null value ([`Schema::validate`]).
    pub validators: Vec<Validator>,
    /// Not sent to Terraform: checks of each element of a list, set or map; a null element is
    /// an error wherever these are declared.
    pub element_validators: Vec<Validator>,
}

/// A declared check of one value, applied by [`Schema::validate`] with the attribute's path,
/// so resources hold no per-attribute validation code. The error text is the diagnostic's
/// detail; its summary is `Invalid <attribute>` unless [`Validator::summary`] says otherwise.
#[derive(Clone)]
pub struct Validator {
    summary: Option<&'static str>,
    check: Arc<Check>,
}

/// A validator's check: `Err` holds the diagnostic's detail.
type Check = dyn Fn(&Value) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Checks any known value (for elements, also null ones).
    pub fn new(f: impl Fn(&Value) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Validator {
            summary: None,
            check: Arc::new(f),
        }
    }

    /// Checks strings; other values pass (their type is Terraform's concern).
    pub fn string(f: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self::new(move |v| v.as_str().map_or(Ok(()), &f))
    }

    /// Checks numbers as `f64`.
    pub fn number(f: impl Fn(f64) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self::new(move |v| v.as_f64().map_or(Ok(()), &f))
    }

    /// One of a fixed set of strings, compared exactly.
    pub fn one_of(options: &'static [&'static str]) -> Self {
        Self::string(move |s| {
            if options.contains(&s) {
                Ok(())
            } else {
                Err(format!(
                    "{s:?} is not one of {}.",
                    options
                        .iter()
                        .map(|o| format!("{o:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        })
    }

    /// A list, set or map that must not be empty.
    pub fn not_empty(detail: &'static str) -> Self {
        Self::new(move |v| {
            match v
                .as_list()
                .map(<[Value]>::len)
                .or(v.as_map().map(|m| m.len()))
            {
                Some(0) => Err(detail.to_string()),
                _ => Ok(()),
            }
        })
    }

    pub fn summary(mut self, s: &'static str) -> Self {
        self.summary = Some(s);
        self
    }

    fn run(&self, name: &str, v: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Err(detail) = (self.check)(v) {
            let summary = self
                .summary
                .map_or_else(|| format!("Invalid {name}"), str::to_string);
            diags.error_at(path.clone(), summary, detail);
        }
    }
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

impl Schema {
    pub fn new(block: Block) -> Self {
        Schema { version: 0, block }
    }

    pub fn implied_type(&self) -> Type {
        self.block.implied_type()
    }

    /// Applies the validators declared on the attributes to a configuration (or a state read
    /// back), each diagnostic at the attribute's path. Unknown and null values are skipped.
    pub fn validate(&self, v: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        self.block
            .validate_value(v, &AttributePath::default(), &mut diags);
        diags
    }
}

impl Block {
    pub fn new(description: impl Into<String>) -> Self {
        Block {
            description: description.into(),
            ..Block::default()
        }
    }

    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    pub fn implied_type(&self) -> Type {
        let mut attrs = BTreeMap::new();
        for a in &self.attributes {
            attrs.insert(a.name.clone(), a.implied_type());
        }
        for b in &self.blocks {
            let obj = b.block.implied_type();
            let ty = match b.nesting {
                Nesting::Single => obj,
                Nesting::List => Type::List(Box::new(obj)),
                Nesting::Set => Type::Set(Box::new(obj)),
                Nesting::Map => Type::Map(Box::new(obj)),
            };
            attrs.insert(b.name.clone(), ty);
        }
        Type::Object(attrs)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    fn validate_value(&self, v: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if v.is_null() || v.is_unknown() {
            return;
        }
        for a in &self.attributes {
            a.validate_value(v.get(&a.name), &path.clone().attr(&a.name), diags);
        }
        for b in &self.blocks {
            let bv = v.get(&b.name);
            match b.nesting {
                Nesting::Single => b
                    .block
                    .validate_value(bv, &path.clone().attr(&b.name), diags),
                _ => match bv {
                    Value::Map(m) => {
                        for (k, x) in m {
                            b.block
                                .validate_value(x, &path.clone().attr(&b.name).key(k), diags);
                        }
                    }
                    _ => {
                        for (i, x) in bv.as_list().unwrap_or_default().iter().enumerate() {
                            b.block
                                .validate_value(x, &path.clone().attr(&b.name).index(i), diags);
                        }
                    }
                },
            }
        }
    }

    /// Paths (within `value`) of every computed attribute whose config value is null, for
    /// marking them unknown in a create plan. Walks nested blocks and nested attributes.
    fn computed_nulls(&self, config: &Value, path: &AttributePath, out: &mut Vec<AttributePath>) {
        for a in &self.attributes {
            let p = path.clone().attr(&a.name);
            let cv = config.get(&a.name);
            if a.computed && cv.is_null() {
                out.push(p);
            } else if let AttributeType::Nested(n, inner) = &a.ty {
                nested_computed_nulls(*n, inner, cv, &p, out);
            }
        }
        for b in &self.blocks {
            let p = path.clone().attr(&b.name);
            let cv = config.get(&b.name);
            match b.nesting {
                Nesting::Single => b.block.computed_nulls(cv, &p, out),
                Nesting::List => {
                    for (i, el) in cv.as_list().unwrap_or_default().iter().enumerate() {
                        b.block.computed_nulls(el, &p.clone().index(i), out);
                    }
                }
                // Set elements have no stable path and map blocks are rare: leave them as
                // proposed.
                Nesting::Set | Nesting::Map => {}
            }
        }
    }
}

fn nested_computed_nulls(
    nesting: Nesting,
    attrs: &[Attribute],
    config: &Value,
    path: &AttributePath,
    out: &mut Vec<AttributePath>,
) {
    let block = Block {
        attributes: attrs.to_vec(),
        ..Block::default()
    };
    match nesting {
        Nesting::Single if !config.is_null() => block.computed_nulls(config, path, out),
        Nesting::List => {
            for (i, el) in config.as_list().unwrap_or_default().iter().enumerate() {
                block.computed_nulls(el, &path.clone().index(i), out);
            }
        }
        _ => {}
    }
}

impl Attribute {
    pub fn new(name: &str, ty: Type) -> Self {
        Attribute {
            name: name.to_string(),
            ty: AttributeType::Plain(ty),
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
            requires_replace: false,
            default: None,
            validators: Vec::new(),
            element_validators: Vec::new(),
        }
    }

    pub fn string(name: &str) -> Self {
        Self::new(name, Type::String)
    }

    pub fn bool(name: &str) -> Self {
        Self::new(name, Type::Bool)
    }

    pub fn number(name: &str) -> Self {
        Self::new(name, Type::Number)
    }

    pub fn list_of(name: &str, element: Type) -> Self {
        Self::new(name, Type::List(Box::new(element)))
    }

    pub fn set_of(name: &str, element: Type) -> Self {
        Self::new(name, Type::Set(Box::new(element)))
    }

    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Attribute {
            ty: AttributeType::Nested(nesting, attributes),
            ..Self::new(name, Type::Dynamic)
        }
    }

    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Optional and computed, with `v` planned whenever the configuration leaves it null.
    pub fn default_value(mut self, v: Value) -> Self {
        self.optional = true;
        self.computed = true;
        self.default = Some(v);
        self
    }

    pub fn requires_replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }

    /// Declares a check of the attribute's known, non-null value.
    pub fn validate(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }

    /// Declares a check of each element of this list, set or map attribute.
    pub fn each(mut self, v: Validator) -> Self {
        self.element_validators.push(v);
        self
    }

    fn validate_value(&self, v: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if v.is_null() || v.is_unknown() {
            return;
        }
        for c in &self.validators {
            c.run(&self.name, v, path, diags);
        }
        let elements: Vec<(AttributePath, &Value)> = match v {
            Value::List(l) | Value::Tuple(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (path.clone().index(i), x))
                .collect(),
            // Set elements are addressed by index in the order received, as elsewhere here.
            Value::Set(l) => l
                .iter()
                .enumerate()
                .map(|(i, x)| (path.clone().index(i), x))
                .collect(),
            Value::Map(m) => m.iter().map(|(k, x)| (path.clone().key(k), x)).collect(),
            _ => Vec::new(),
        };
        if !self.element_validators.is_empty() {
            for (p, x) in &elements {
                if x.is_unknown() {
                    continue;
                }
                if x.is_null() {
                    let summary = self.element_validators[0]
                        .summary
                        .map_or_else(|| format!("Invalid {}", self.name), str::to_string);
                    diags.error_at(p.clone(), summary, "Elements must not be null.");
                    continue;
                }
                for c in &self.element_validators {
                    c.run(&self.name, x, p, diags);
                }
            }
        }
        if let AttributeType::Nested(nesting, attrs) = &self.ty {
            let block = Block {
                attributes: attrs.clone(),
                ..Block::default()
            };
            match nesting {
                Nesting::Single => block.validate_value(v, path, diags),
                _ => {
                    for (p, x) in &elements {
                        block.validate_value(x, p, diags);
                    }
                }
            }
        }
    }

    pub fn implied_type(&self) -> Type {
        match &self.ty {
            AttributeType::Plain(t) => t.clone(),
            AttributeType::Nested(n, attrs) => {
                let obj = Type::Object(
                    attrs
                        .iter()
                        .map(|a| (a.name.clone(), a.implied_type()))
                        .collect(),
                );
                match n {
                    Nesting::Single => obj,
                    Nesting::List => Type::List(Box::new(obj)),
                    Nesting::Set => Type::Set(Box::new(obj)),
                    Nesting::Map => Type::Map(Box::new(obj)),
                }
            }
        }
    }
}

impl NestedBlock {
    pub fn new(name: &str, nesting: Nesting, block: Block) -> Self {
        NestedBlock {
            name: name.to_string(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }

    pub fn max_items(mut self, n: i64) -> Self {
        self.max_items = n;
        self
    }
}

/// The framework's default plan: what Terraform proposed, with computed attributes that the
/// configuration leaves null marked unknown on create (or set to their `default`), and
/// replacement requested for changed `requires_replace` attributes on update.
pub fn default_plan(
    schema: &Schema,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> (Value, Vec<AttributePath>) {
    if proposed.is_null() {
        return (Value::Null, Vec::new());
    }
    let mut planned = proposed.clone();
    let mut replace = Vec::new();
    if prior.is_null() {
        let mut paths = Vec::new();
        schema
            .block
            .computed_nulls(config, &AttributePath::default(), &mut paths);
        for p in paths {
            set_path(&mut planned, &p, Value::Unknown);
        }
    }
    for a in &schema.block.attributes {
        if let Some(d) = &a.default
            && config.get(&a.name).is_null()
        {
            planned.set_attr(&a.name, d.clone());
        }
    }
    if !prior.is_null() {
        for a in &schema.block.attributes {
            if a.requires_replace && prior.get(&a.name) != planned.get(&a.name) {
                replace.push(AttributePath::root(&a.name));
            }
        }
    }
    (planned, replace)
}

/// Sets the value at `path` (attribute and index steps) if every step exists.
pub fn set_path(root: &mut Value, path: &AttributePath, v: Value) {
    use super::diagnostics::PathStep;
    let mut cur = root;
    let steps = &path.0;
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let next = match (step, cur) {
            (PathStep::Attr(n), Value::Object(m)) | (PathStep::Key(n), Value::Map(m)) => {
                match m.get_mut(n) {
                    Some(x) => x,
                    None => return,
                }
            }
            (PathStep::Index(ix), Value::List(l)) | (PathStep::Index(ix), Value::Tuple(l)) => {
                match usize::try_from(*ix).ok().and_then(|ix| l.get_mut(ix)) {
                    Some(x) => x,
                    None => return,
                }
            }
            _ => return,
        };
        if last {
            *next = v;
            return;
        }
        cur = next;
    }
}

// ---- protocol form ----

fn nesting_to_object(n: Nesting) -> i32 {
    use pb::schema::object::NestingMode as M;
    (match n {
        Nesting::Single => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }) as i32
}

fn nesting_to_block(n: Nesting) -> i32 {
    use pb::schema::nested_block::NestingMode as M;
    (match n {
        Nesting::Single => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }) as i32
}

const MARKDOWN: i32 = pb::StringKind::Markdown as i32;

impl Attribute {
    fn to_proto(&self) -> pb::schema::Attribute {
        let (ty, nested_type) = match &self.ty {
            AttributeType::Plain(t) => (t.to_json_bytes(), None),
            AttributeType::Nested(n, attrs) => (
                Vec::new(),
                Some(pb::schema::Object {
                    attributes: attrs.iter().map(Attribute::to_proto).collect(),
                    nesting: nesting_to_object(*n),
                    ..Default::default()
                }),
            ),
        };
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: ty,
            nested_type,
            description: self.description.clone(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            description_kind: MARKDOWN,
            deprecated: self.deprecated,
            write_only: self.write_only,
        }
    }
}

impl Block {
    fn to_proto(&self) -> pb::schema::Block {
        pb::schema::Block {
            version: 0,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self
                .blocks
                .iter()
                .map(|b| pb::schema::NestedBlock {
                    type_name: b.name.clone(),
                    block: Some(b.block.to_proto()),
                    nesting: nesting_to_block(b.nesting),
                    min_items: b.min_items,
                    max_items: b.max_items,
                })
                .collect(),
            description: self.description.clone(),
            description_kind: MARKDOWN,
            deprecated: self.deprecated,
        }
    }
}

/// A resource's identity (Terraform >= 1.12): a few attributes that name the object, stored
/// next to its state and usable in `import { identity = { … } }` blocks. Its version is
/// independent of the resource schema's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdentitySchema {
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IdentityAttribute {
    pub name: String,
    /// Primitive, or a list of primitives (the protocol has no sets here).
    pub ty: Type,
    /// Required in an import block's `identity`; otherwise optional there.
    pub required_for_import: bool,
    pub description: String,
}

impl IdentitySchema {
    /// The identity of a resource whose state holds attributes of the same names: each
    /// `(name, required_for_import)` takes the state attribute's type and description, a set
    /// becoming a list. Panics on a name the schema lacks (a bug caught by every test).
    pub fn of_state_attributes(schema: &Schema, attrs: &[(&str, bool)]) -> IdentitySchema {
        let attributes = attrs
            .iter()
            .map(|&(name, required_for_import)| {
                let a = schema.block.attribute(name).unwrap_or_else(|| {
                    panic!("identity attribute {name:?} is not an attribute of the schema")
                });
                let ty = match a.implied_type() {
                    Type::Set(t) => Type::List(t),
                    t => t,
                };
                IdentityAttribute {
                    name: name.to_string(),
                    ty,
                    required_for_import,
                    description: a.description.clone(),
                }
            })
            .collect();
        IdentitySchema {
            version: 0,
            attributes,
        }
    }

    pub fn implied_type(&self) -> Type {
        Type::Object(
            self.attributes
                .iter()
                .map(|a| (a.name.clone(), a.ty.clone()))
                .collect(),
        )
    }

    /// The identity read off a state with attributes of the same names (sets as lists, in
    /// their sorted order). Null when the state is null or any identity value is unknown (a
    /// plan whose names are not known yet has no identity).
    pub fn project(&self, state: &Value) -> Value {
        if state.is_null() || state.is_unknown() {
            return Value::Null;
        }
        let mut out = BTreeMap::new();
        for a in &self.attributes {
            let v = match state.get(&a.name) {
                Value::Set(items) => Value::List(items.clone()),
                v => v.clone(),
            };
            if !v.is_wholly_known() {
                return Value::Null;
            }
            out.insert(a.name.clone(), v);
        }
        Value::Object(out)
    }

    pub fn to_proto(&self) -> pb::ResourceIdentitySchema {
        pb::ResourceIdentitySchema {
            version: self.version,
            identity_attributes: self
                .attributes
                .iter()
                .map(|a| pb::resource_identity_schema::IdentityAttribute {
                    name: a.name.clone(),
                    r#type: a.ty.to_json_bytes(),
                    required_for_import: a.required_for_import,
                    optional_for_import: !a.required_for_import,
                    description: a.description.clone(),
                })
                .collect(),
        }
    }
}

impl Schema {
    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Schema {
        Schema::new(
            Block::new("x")
                .attr(Attribute::string("name").required().requires_replace())
                .attr(Attribute::string("id").computed())
                .attr(Attribute::list_of("tags", Type::String).optional())
                .block(NestedBlock::new(
                    "opts",
                    Nesting::List,
                    Block::new("").attr(Attribute::string("c").optional().computed()),
                )),
        )
    }

    #[test]
    fn implied_type_includes_blocks() {
        let t = sample().implied_type();
        let Type::Object(m) = t else {
            panic!("object expected")
        };
        assert_eq!(m.get("name"), Some(&Type::String));
        assert!(matches!(m.get("opts"), Some(Type::List(_))));
    }

    #[test]
    fn create_plan_marks_computed_unknown() {
        let s = sample();
        let cfg = Value::object([
            ("name", Value::string("a")),
            ("id", Value::Null),
            ("tags", Value::Null),
            (
                "opts",
                Value::List(vec![Value::object([("c", Value::Null)])]),
            ),
        ]);
        let (planned, replace) = default_plan(&s, &Value::Null, &cfg, &cfg);
        assert!(replace.is_empty());
        assert_eq!(planned.get("id"), &Value::Unknown);
        assert_eq!(planned.get("tags"), &Value::Null);
        let opts = planned.get("opts").as_list().unwrap_or_default();
        assert_eq!(opts.first().map(|o| o.get("c")), Some(&Value::Unknown));
    }

    #[test]
    fn defaults_fill_null_config() {
        let s = Schema::new(
            Block::new("")
                .attr(Attribute::string("name").required())
                .attr(Attribute::bool("flag").default_value(Value::bool(true))),
        );
        let cfg = Value::object([("name", Value::string("a")), ("flag", Value::Null)]);
        let (planned, _) = default_plan(&s, &Value::Null, &cfg, &cfg);
        assert_eq!(planned.get("flag"), &Value::bool(true));
        let set = Value::object([("name", Value::string("a")), ("flag", Value::bool(false))]);
        let (planned, _) = default_plan(&s, &Value::Null, &set, &set);
        assert_eq!(planned.get("flag"), &Value::bool(false));
    }

    #[test]
    fn update_plan_requests_replace() {
        let s = sample();
        let prior = Value::object([("name", Value::string("a")), ("id", Value::string("1"))]);
        let proposed = Value::object([("name", Value::string("b")), ("id", Value::string("1"))]);
        let (_, replace) = default_plan(&s, &prior, &proposed, &proposed);
        assert_eq!(replace, vec![AttributePath::root("name")]);
    }
}
