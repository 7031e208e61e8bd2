//! The model's parameters as one flat array, and the way in and out of
//! burn's module: each burn parameter (found by its id) is a span of the
//! array, so the optimizer, the moving average and gradient clipping are
//! loops over arrays, and a checkpoint or a best model is written as burn's
//! module of the same values (the files every other part reads).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::ops::{Dense, Norm};
use crate::predictor::model::NarFormer;

/// Where each of a model's parameters sits in the flat array.
#[derive(Clone, Debug)]
pub struct Layout {
    spans: HashMap<ParamId, (usize, Vec<usize>)>,
    /// Per value: whether weight decay applies (parameters of rank >= 2:
    /// weight matrices and learnt tokens, not biases and norms).
    pub decays: Vec<bool>,
}

impl Layout {
    pub fn len(&self) -> usize {
        self.decays.len()
    }

    fn offset(&self, id: ParamId) -> usize {
        self.spans.get(&id).expect("a parameter of the model the layout was made from").0
    }

    pub fn dense<B: Backend>(&self, l: &Linear<B>) -> Dense {
        let [din, dout] = l.weight.dims();
        let bias = l.bias.as_ref().expect("the model's Linears have a bias");
        Dense { w: self.offset(l.weight.id), b: self.offset(bias.id), din, dout }
    }

    pub fn norm<B: Backend>(&self, n: &LayerNorm<B>) -> Norm {
        let beta = n.beta.as_ref().expect("the model's LayerNorms have a shift");
        Norm { g: self.offset(n.gamma.id), b: self.offset(beta.id), d: n.gamma.dims()[0] }
    }

    pub fn offset_of<B: Backend, const D: usize>(&self, p: &Param<Tensor<B, D>>) -> usize {
        self.offset(p.id)
    }

    /// `p`'s values in the flat array `flat`.
    pub fn values<'a, B: Backend, const D: usize>(&self, p: &Param<Tensor<B, D>>, flat: &'a [f32]) -> &'a [f32] {
        let (at, dims) = self.spans.get(&p.id).expect("a parameter of the model the layout was made from");
        &flat[*at..at + dims.iter().product::<usize>()]
    }
}

/// Copies `model`'s parameters into one array, in the order burn visits them.
pub fn flatten<B: Backend>(model: &NarFormer<B>) -> (Layout, Vec<f32>) {
    struct Collect {
        layout: Layout,
        values: Vec<f32>,
    }
    impl<B: Backend> ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let t = param.val();
            let dims = t.dims().to_vec();
            let at = self.values.len();
            let values = t.into_data().convert::<f32>().to_vec::<f32>().expect("parameters convert to f32");
            self.layout.decays.extend(std::iter::repeat_n(D >= 2, values.len()));
            self.values.extend(values);
            self.layout.spans.insert(param.id, (at, dims));
        }
    }
    let mut c = Collect { layout: Layout { spans: HashMap::new(), decays: Vec::new() }, values: Vec::new() };
    model.visit(&mut c);
    (c.layout, c.values)
}

/// `template` with its parameters set to `values` (laid out by `layout`,
/// which was made from `template` or a copy of it).
pub fn unflatten<B: Backend>(template: &NarFormer<B>, layout: &Layout, values: &[f32]) -> NarFormer<B> {
    struct Set<'a>(&'a Layout, &'a [f32]);
    impl<B: Backend> ModuleMapper<B> for Set<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, tensor, mapper) = param.consume();
            let (at, dims) = self.0.spans.get(&id).expect("the template's parameters are in the layout");
            let n: usize = dims.iter().product();
            let data = TensorData::new(self.1[*at..at + n].to_vec(), dims.clone());
            let value = Tensor::<B, D>::from_data(data.convert_dtype(tensor.dtype()), &tensor.device());
            Param::from_mapped_value(id, value, mapper)
        }
    }
    assert_eq!(values.len(), layout.len(), "values laid out for this model");
    template.clone().map(&mut Set(layout, values))
}
