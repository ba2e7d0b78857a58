mod context;
mod gateway;
mod harness;
mod iteration;
mod tools;
