//! Bindings generated from the `baton:plugin/task` world.
//!
//! Most plugins never touch these directly; the modules of this crate wrap them.
#![allow(missing_docs, clippy::too_many_arguments)]

wit_bindgen::generate!({
    world: "task",
    path: "../wit",
    generate_all,
    pub_export_macro: true,
    export_macro_name: "__export_task_world",
    default_bindings_module: "baton_sdk::bindings",
    runtime_path: "baton_sdk::__private::wit_bindgen::rt",
});
