mod model;
mod support;
