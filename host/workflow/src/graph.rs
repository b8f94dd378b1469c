//! The node graph: edges from `needs`, order, cycles and ancestry.

use std::collections::{BTreeSet, HashMap};

use crate::Workflow;

/// The DAG of a workflow. Unknown `needs` are left out (validation reports them).
#[derive(Debug, Clone)]
pub struct Graph {
    ids: Vec<String>,
    index: HashMap<String, usize>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
}

impl Graph {
    /// Build the graph of `workflow`.
    pub fn new(workflow: &Workflow) -> Self {
        let ids: Vec<String> = workflow
            .nodes
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        let index: HashMap<String, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let mut parents = vec![Vec::new(); ids.len()];
        let mut children = vec![Vec::new(); ids.len()];
        for (i, (_, node)) in workflow.nodes.iter().enumerate() {
            for need in &node.needs {
                if let Some(&p) = index.get(need)
                    && !parents[i].contains(&p)
                {
                    parents[i].push(p);
                    children[p].push(i);
                }
            }
        }
        Self {
            ids,
            index,
            parents,
            children,
        }
    }

    /// Node ids in definition order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The nodes `id` needs.
    pub fn parents(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, &self.parents)
    }

    /// The nodes that need `id`.
    pub fn children(&self, id: &str) -> Vec<&str> {
        self.neighbours(id, &self.children)
    }

    fn neighbours<'a>(&'a self, id: &str, edges: &[Vec<usize>]) -> Vec<&'a str> {
        self.index
            .get(id)
            .map(|&i| edges[i].iter().map(|&j| self.ids[j].as_str()).collect())
            .unwrap_or_default()
    }

    /// Every node `id` depends on, directly or not.
    pub fn ancestors(&self, id: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = self
            .index
            .get(id)
            .map(|&i| self.parents[i].clone())
            .unwrap_or_default();
        while let Some(n) = stack.pop() {
            if seen.insert(self.ids[n].clone()) {
                stack.extend(&self.parents[n]);
            }
        }
        seen
    }

    /// Ids in an order where every node comes after what it needs, or `None` with a cycle.
    pub fn topological(&self) -> Option<Vec<&str>> {
        self.order()
            .map(|order| order.into_iter().map(|n| self.ids[n].as_str()).collect())
    }

    /// Node indices in dependency order, or `None` with a cycle.
    fn order(&self) -> Option<Vec<usize>> {
        let mut pending: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..self.ids.len())
            .filter(|&i| pending[i] == 0)
            .rev()
            .collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(n) = ready.pop() {
            order.push(n);
            for &c in self.children[n].iter().rev() {
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(c);
                }
            }
        }
        (order.len() == self.ids.len()).then_some(order)
    }

    /// One cycle, as the ids along it with the first repeated at the end.
    ///
    /// Iterative, so that a chain of any length cannot exhaust the stack.
    pub fn cycle(&self) -> Option<Vec<String>> {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.ids.len()];
        // The current path: each node with the index of the next parent to visit.
        let mut path: Vec<(usize, usize)> = Vec::new();
        for start in 0..self.ids.len() {
            if state[start] != 0 {
                continue;
            }
            state[start] = 1;
            path.push((start, 0));
            while let Some(&mut (n, ref mut next)) = path.last_mut() {
                let Some(&p) = self.parents[n].get(*next) else {
                    state[n] = 2;
                    path.pop();
                    continue;
                };
                *next += 1;
                match state[p] {
                    0 => {
                        state[p] = 1;
                        path.push((p, 0));
                    }
                    1 => {
                        let from = path.iter().position(|&(q, _)| q == p).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..]
                            .iter()
                            .map(|&(q, _)| self.ids[q].clone())
                            .collect();
                        cycle.push(self.ids[p].clone());
                        return Some(cycle);
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Every node's ancestors at once, or `None` when the graph has a cycle.
    ///
    /// One pass in dependency order over bit sets: linear in the edges times
    /// the node count over 64, where asking [`Graph::ancestors`] of every
    /// node would be quadratic.
    pub fn upstream(&self) -> Option<Upstream<'_>> {
        let order = self.order()?;
        let words = self.ids.len().div_ceil(64);
        let mut sets = vec![0u64; words * self.ids.len()];
        let mut acc = vec![0u64; words];
        for n in order {
            acc.fill(0);
            for &p in &self.parents[n] {
                // p comes before n in the order, so its set is complete.
                for (a, q) in acc.iter_mut().zip(&sets[p * words..(p + 1) * words]) {
                    *a |= q;
                }
                acc[p / 64] |= 1 << (p % 64);
            }
            sets[n * words..(n + 1) * words].copy_from_slice(&acc);
        }
        Some(Upstream {
            graph: self,
            words,
            sets,
        })
    }
}

/// The ancestors of every node of a graph, from [`Graph::upstream`].
pub struct Upstream<'g> {
    graph: &'g Graph,
    words: usize,
    sets: Vec<u64>,
}

impl Upstream<'_> {
    /// Whether `ancestor` is upstream of `id`, directly or not.
    pub fn contains(&self, id: &str, ancestor: &str) -> bool {
        match (self.graph.index.get(id), self.graph.index.get(ancestor)) {
            (Some(&n), Some(&a)) => self.sets[n * self.words + a / 64] & (1 << (a % 64)) != 0,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::Nodes;

    fn graph(yaml: &str) -> Graph {
        Graph::new(&Workflow::parse(yaml).unwrap())
    }

    #[test]
    fn orders_a_diamond() {
        let g = graph(
            "name: d\nnodes:\n  join: {needs: [a, b]}\n  a: {needs: [root]}\n  b: {needs: [root]}\n  root: {}\n",
        );
        let order = g.topological().unwrap();
        let pos = |id: &str| order.iter().position(|x| *x == id).unwrap();
        assert!(pos("root") < pos("a") && pos("root") < pos("b"));
        assert!(pos("a") < pos("join") && pos("b") < pos("join"));
        assert_eq!(
            g.ancestors("join").into_iter().collect::<Vec<_>>(),
            ["a", "b", "root"]
        );
        assert_eq!(g.children("root"), ["a", "b"]);
    }

    #[test]
    fn finds_a_cycle() {
        let g = graph(
            "name: c\nnodes:\n  a: {needs: [c]}\n  b: {needs: [a]}\n  c: {needs: [b]}\n  d: {}\n",
        );
        assert!(g.topological().is_none());
        let cycle = g.cycle().unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4, "{cycle:?}");
        assert!(
            graph("name: ok\nnodes:\n  a: {}\n  b: {needs: [a]}\n")
                .cycle()
                .is_none()
        );
    }

    #[test]
    fn upstream_agrees_with_ancestors() {
        let g = graph(
            "name: d\nnodes:\n  join: {needs: [a, b]}\n  a: {needs: [root]}\n  b: {needs: [root]}\n  root: {}\n  lone: {}\n",
        );
        let up = g.upstream().unwrap();
        for id in g.ids() {
            let ancestors = g.ancestors(id);
            for other in g.ids() {
                assert_eq!(
                    up.contains(id, other),
                    ancestors.contains(other),
                    "{other} upstream of {id}"
                );
            }
        }
        assert!(!up.contains("join", "missing"));
        assert!(
            graph("name: c\nnodes:\n  a: {needs: [b]}\n  b: {needs: [a]}\n")
                .upstream()
                .is_none()
        );
    }

    fn chain(n: usize, closed: bool) -> Workflow {
        let nodes: Nodes = (0..n)
            .map(|i| {
                let need = if i + 1 < n {
                    Some(format!("n{}", i + 1))
                } else if closed {
                    Some("n0".to_string())
                } else {
                    None
                };
                let node = crate::Node {
                    needs: need.into_iter().collect(),
                    ..Default::default()
                };
                (format!("n{i}"), node)
            })
            .collect();
        Workflow {
            name: "chain".into(),
            description: None,
            triggers: Vec::new(),
            on_failure: Default::default(),
            concurrency: None,
            key: None,
            unique_key: false,
            deadline: None,
            locks: Vec::new(),
            nodes,
        }
    }

    #[test]
    fn long_chains_do_not_exhaust_the_stack() {
        // Far deeper than any recursion on a 2 MiB stack survives.
        let g = Graph::new(&chain(200_000, false));
        assert!(g.cycle().is_none());
        assert_eq!(g.topological().map(|o| o.len()), Some(200_000));
        let g = Graph::new(&chain(200_000, true));
        assert_eq!(g.cycle().map(|c| c.len()), Some(200_001));
    }
}
