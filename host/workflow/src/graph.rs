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
        let mut pending: Vec<usize> = self.parents.iter().map(Vec::len).collect();
        let mut ready: Vec<usize> = (0..self.ids.len())
            .filter(|&i| pending[i] == 0)
            .rev()
            .collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(n) = ready.pop() {
            order.push(self.ids[n].as_str());
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
    pub fn cycle(&self) -> Option<Vec<String>> {
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.ids.len()];
        let mut path = Vec::new();
        for start in 0..self.ids.len() {
            if let Some(cycle) = self.visit(start, &mut state, &mut path) {
                return Some(cycle);
            }
        }
        None
    }

    fn visit(&self, n: usize, state: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<String>> {
        match state[n] {
            2 => return None,
            1 => {
                let from = path.iter().position(|&p| p == n).unwrap_or(0);
                let mut cycle: Vec<String> =
                    path[from..].iter().map(|&p| self.ids[p].clone()).collect();
                cycle.push(self.ids[n].clone());
                return Some(cycle);
            }
            _ => {}
        }
        state[n] = 1;
        path.push(n);
        for &p in &self.parents[n] {
            if let Some(cycle) = self.visit(p, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state[n] = 2;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
