//! Bindings of WIT `tapline:plugin@1.0.0` (sdk/wit/v1, frozen) and the
//! conversions between them and the host's own types. A later interface
//! version gets its own module beside this one; plugins built against 1.0.0
//! keep running through this one.

use super::State;
use super::types as t;
use wasmtime::component::HasSelf;

wasmtime::component::bindgen!({
    path: "../sdk/wit/v1",
    world: "plugin",
    imports: { default: trappable },
});

pub use self::Plugin as Bindings;
pub use self::PluginPre as BindingsPre;
use self::exports::tapline::plugin::hooks::Guest;
use self::tapline::plugin::types as w;

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    Plugin::add_to_linker::<State, HasSelf<State>>(linker, |s| s)
}

impl self::tapline::plugin::types::Host for State {}

impl self::tapline::plugin::host::Host for State {
    fn log(&mut self, level: w::Level, message: String) -> wasmtime::Result<()> {
        self.write_log(
            match level {
                w::Level::Debug => tracing::Level::DEBUG,
                w::Level::Info => tracing::Level::INFO,
                w::Level::Warn => tracing::Level::WARN,
                w::Level::Error => tracing::Level::ERROR,
            },
            &message,
        );
        Ok(())
    }

    fn now(&mut self) -> wasmtime::Result<String> {
        Ok(self.clock_now())
    }

    fn setting(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.settings.get(&key).cloned())
    }

    fn next_sequence(&mut self, name: String) -> wasmtime::Result<u64> {
        self.next_seq(&name)
    }
}

fn fields(m: &std::collections::BTreeMap<String, String>) -> Vec<w::Field> {
    m.iter()
        .map(|(id, value)| w::Field {
            id: id.clone(),
            value: value.clone(),
        })
        .collect()
}

fn profile(p: &t::Profile) -> w::Profile {
    w::Profile {
        applicant_type: p.applicant_type.clone(),
        fields: fields(&p.fields),
    }
}

fn application(a: &t::Application) -> w::Application {
    w::Application {
        kind: a.kind.clone(),
        status: a.status.clone(),
        number: a.number.clone(),
        values: fields(&a.values),
        applicant: profile(&a.applicant),
        created_at: a.created_at.clone(),
    }
}

fn errors(v: Vec<w::FieldError>) -> t::HookOutput {
    t::HookOutput::Errors(
        v.into_iter()
            .map(|e| t::FieldError {
                field: e.field,
                message: e.message,
            })
            .collect(),
    )
}

/// Call one hook on an instance.
pub fn call(
    plugin: &Bindings,
    store: &mut wasmtime::Store<State>,
    hook: &t::Hook,
) -> wasmtime::Result<t::HookOutput> {
    let g: &Guest = plugin.tapline_plugin_hooks();
    Ok(match hook {
        t::Hook::ValidateProfile(p) => errors(g.call_validate_profile(store, &profile(p))?),
        t::Hook::ValidateApplication(a) => {
            errors(g.call_validate_application(store, &application(a))?)
        }
        t::Hook::CheckTransition(tr) => t::HookOutput::Refusal(g.call_check_transition(
            store,
            &w::Transition {
                application: application(&tr.application),
                from: tr.from.clone(),
                to: tr.to.clone(),
                actor: tr.actor.clone(),
            },
        )?),
        t::Hook::RegistrationNumber(a) => {
            t::HookOutput::Number(g.call_registration_number(store, &application(a))?)
        }
        t::Hook::DocumentContext(a, template) => {
            let list = g.call_document_context(store, &application(a), template)?;
            // A later value of the same name wins, as in a template context.
            t::HookOutput::Context(list.into_iter().map(|f| (f.id, f.value)).collect())
        }
        t::Hook::CalculateFee(a) => {
            t::HookOutput::Fee(g.call_calculate_fee(store, &application(a))?.map(|f| {
                t::Fee {
                    currency: f.currency,
                    lines: f
                        .lines
                        .into_iter()
                        .map(|l| t::FeeLine {
                            title: l.title,
                            amount: l.amount,
                        })
                        .collect(),
                    total: f.total,
                }
            }))
        }
        t::Hook::ShapeWebhook(wh) => t::HookOutput::Payload(g.call_shape_webhook(
            store,
            &w::Webhook {
                event: wh.event.clone(),
                application: application(&wh.application),
                payload: wh.payload.clone(),
            },
        )?),
    })
}
